//! Scopes compared in part (docs/running.md, "Scopes compared in part").
//!
//! A scope that the last run left clean — every record equal to its volume once the run's
//! own changes were in (`settled.rs`) — and that nobody has written to since is, tonight,
//! still equal to every line of that run. When tonight's report changes a few of its lines,
//! only those need deriving and comparing: a line the memo knows (byte for byte one of the
//! last run's) gives the record it gave then, which is its volume as it stands. Pass 1 keeps
//! such a scope *in part* (`Spill::expect_settled`): the texts of known lines are counted,
//! the records of the others kept. Here, once the versions are known, each scope kept in
//! part is either compared in part — its derived records against the table, the known lines
//! counted unchanged (`scope::diff::diff_scope_known`) — or, when anything about it is not
//! as the last run left it, filled from a second reading of the input and compared in full.
//!
//! A scope is compared in part only when all of these hold: the last run's settlement of it
//! is for the same plan, input, executable, target and store, and its version is the
//! scope's version now; its lines named as many volumes as there were lines (no volume
//! named twice, so a line stands for one volume and a volume for one line); the line memo's
//! entries of the scope are that run's lines (same digest); no record derived tonight names
//! the volume of a known line (which would make two lines of one volume, to be compared
//! together); and the scope's table comes from the cache. The memo keeps each line's volume
//! as a 64-bit hash, so the volumes of the last run's lines that are not among tonight's
//! known lines are told by hash (found in the table for the list of volumes missing from the
//! report).

use super::line_memo::LineMemo;
use super::settled::Settling;
use crate::scope::cache::ScopeCache;
use crate::scope::diff::{diff_scope, diff_scope_known, DiffRules, KnownLines};
use crate::scope::diff::{PendingChange, ScopeRejection};
use crate::spill::{ScopeRecords, Spill};
use crate::stats::RunStats;
use tapesync_model::{ScopeKey, ScopeTable};

/// Per scope of the spill (in its order), what is known of the lines it did not derive when
/// it is compared in part.
pub(super) type Known = Vec<Option<KnownLines>>;

/// Decides, for every scope pass 1 kept in part, whether it is compared in part; the others
/// are made whole (every record was kept) or counted, to be filled by the second reading of
/// the input (`read_pass::read_again`). `from_cache`: whether each scope's table is planned to
/// come from the cache.
pub(super) fn plan(
    spill: &mut Spill,
    memo: Option<&LineMemo>,
    settling: Option<&Settling>,
    cache: Option<&ScopeCache>,
    from_cache: &[bool],
) -> Known {
    let scopes = spill.scopes();
    let parts: Vec<Option<Vec<u64>>> = spill
        .in_part()
        .into_iter()
        .map(|p| p.map(<[u64]>::to_vec))
        .collect();
    let mut known: Known = vec![None; scopes.len()];
    let mut candidates = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.is_none() {
            continue;
        }
        let scope = &scopes[i];
        let left = settling.and_then(|s| s.left.get(scope));
        let candidate = match (left, cache, memo) {
            (Some(s), Some(cache), Some(_)) => {
                from_cache.get(i) == Some(&true)
                    && cache.version_of(scope) == Some(s.version)
                    && s.volumes == s.digest.lines
            }
            _ => false,
        };
        match left {
            Some(s) if candidate => candidates.push((i, s)),
            _ => compare_whole(spill, i),
        }
    }
    let Some(memo) = memo.filter(|_| !candidates.is_empty()) else {
        return known;
    };
    let wanted: Vec<(&ScopeKey, &[u64])> = candidates
        .iter()
        .map(|(i, _)| (&scopes[*i], parts[*i].as_deref().unwrap_or_default()))
        .collect();
    let swept = memo.sweep(&wanted);
    for ((i, left), swept) in candidates.iter().zip(swept) {
        let prefix = format!("{} ", scopes[*i]);
        // The statistics list a volume as its scope and its Volume-ID.
        let unreported: Option<Vec<String>> = left
            .unreported
            .iter()
            .map(|u| u.strip_prefix(&prefix).map(str::to_string))
            .collect();
        let removed = swept.unmarked.len() as u64;
        match unreported {
            Some(unreported)
                if !swept.shared && swept.lines == left.digest && removed <= left.volumes =>
            {
                known[*i] = Some(KnownLines {
                    version: left.version,
                    volumes: left.volumes - removed,
                    removed: swept.unmarked,
                    unreported,
                });
            }
            _ => compare_whole(spill, *i),
        }
    }
    known
}

/// Scope `i`, kept in part, is compared in full: at once when it kept every record (no line
/// of it was known), otherwise once the second reading has filled it.
fn compare_whole(spill: &mut Spill, i: usize) {
    if spill.counted_texts(i) == 0 {
        spill.keep_whole(i);
    } else {
        spill.count_instead(i);
    }
}

/// The comparison of scope `records` with its `table`: in part when `known` says so.
pub(super) fn compare(
    known: Option<&KnownLines>,
    table: &ScopeTable,
    records: &ScopeRecords,
    rules: &DiffRules<'_>,
    stats: &mut RunStats,
) -> std::io::Result<(Vec<PendingChange>, Vec<ScopeRejection>)> {
    match known {
        Some(known) => diff_scope_known(table, records, rules, stats, known),
        None => diff_scope(table, records, rules, stats),
    }
}
