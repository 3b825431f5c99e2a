//! The diff of one scope: the derived records of the scope (from the spill) against its
//! table as downloaded from the inventory, giving the changes to send, the volumes unchanged,
//! skipped, missing on either side, and the records the scope cannot take.

use crate::scope::new_ids::NewIds;
use crate::spill::{RecordView, ScopeRecords};
use crate::stats::RunStats;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tapesync_compiler::plan::SkipOnRepositoryChange;
use tapesync_model::{Field, ScopeTable, VolumeChange};

/// A change to send, with what the volume held before (for dry-run output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    pub line: u64,
    pub change: VolumeChange,
    /// The compared fields' current values (`None` for a volume to create).
    pub before: Option<BTreeMap<Field, String>>,
}

/// What the diff needs besides the records.
pub struct DiffRules<'a> {
    /// The fields a run compares, in field order; the scope table has one column for each.
    pub compared: &'a [Field],
    pub skips: &'a [SkipOnRepositoryChange],
    /// Create volumes the inventory lacks (`--add-new`).
    pub add_new: bool,
    /// Which missing customers, media and repositories may be created.
    pub new_ids: &'a NewIds,
}

/// A record the scope cannot take.
pub struct ScopeRejection {
    pub line: u64,
    pub reason: String,
}

/// Diffs the records of one scope (in input order) against the scope's table. A volume named
/// by several records counts once: when their values agree they are one record; when they
/// disagree every one of them is rejected, naming all their lines, and none is applied (two
/// report lines that become one Volume-ID — after a translation such as NetBackup's
/// six-character media IDs — must not be merged silently, the last one winning). Counts unchanged, skipped,
/// not-in-inventory and not-in-report volumes into `stats`; returns the changes and the
/// rejected records.
///
/// Nothing is allocated for an unchanged volume — 99 % of a typical night: records are views
/// into the spilled bytes and values are compared as borrowed text.
///
/// The records are matched with the table's rows by a merge: both are put in Volume-ID order
/// (the table comes sorted; the records are sorted by an 8-byte prefix of their Volume-ID),
/// then walked side by side, so the table is read front to back. Looking each record up in a
/// hash index instead cost several cache misses per record on a large scope (the index, the
/// Volume-ID it points to, then the row), much of the diff's time (docs/benchmarks.md,
/// "Round 3"). Everything the diff reports is put back in input order (the order of each
/// volume's first record) before it leaves, so the result is the same as a walk in input
/// order.
pub fn diff_scope(
    table: &ScopeTable,
    records: &ScopeRecords,
    rules: &DiffRules<'_>,
    stats: &mut RunStats,
) -> std::io::Result<(Vec<PendingChange>, Vec<ScopeRejection>)> {
    diff_records(table, records, rules, stats, true)
}

/// What a scope compared in part knows of the lines it did not derive tonight: lines of the
/// last run that left the scope clean at `version` (`run/partial.rs`), whose records are
/// therefore each equal to its volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLines {
    /// The scope's version the last run left, which the table must still have.
    pub version: u64,
    /// Distinct volumes the known lines name (none of them named by a derived record).
    pub volumes: u64,
    /// Hashes ([`crate::spill::volume_hash`]) of the volumes of the last run's lines that
    /// are not among tonight's known lines (removed, changed or moved out of sight).
    pub removed: Vec<u64>,
    /// The scope's volumes the last run's lines did not name (Volume-IDs).
    pub unreported: Vec<String>,
}

/// [`diff_scope`] for a scope compared in part: `records` are only those derived tonight;
/// every other line of the scope is one of `known`'s, whose volumes are counted unchanged.
/// The volumes missing from the report are the last run's (`known.unreported`) and those of
/// its removed lines, less the volumes tonight's records name — listed in table order, as
/// [`diff_scope`] lists them. A table at another version than the one the last run left, or
/// a removed line whose volume the table does not have, is an error: the comparison would
/// not be exact.
pub fn diff_scope_known(
    table: &ScopeTable,
    records: &ScopeRecords,
    rules: &DiffRules<'_>,
    stats: &mut RunStats,
    known: &KnownLines,
) -> std::io::Result<(Vec<PendingChange>, Vec<ScopeRejection>)> {
    let key = records.key();
    if table.scope_version != known.version {
        return Err(std::io::Error::other(format!(
            "scope {key} changed while the run compared it (version {} instead of {}); run the sync again",
            table.scope_version, known.version
        )));
    }
    let result = diff_records(table, records, rules, stats, false)?;
    stats.statistics.volumes_unchanged += known.volumes;
    stats.scopes_in_part += 1;
    let mut named: FxHashSet<&str> = FxHashSet::default();
    for view in records.iter() {
        named.insert(view?.volume);
    }
    let inconsistent = |what: &str| {
        std::io::Error::other(format!(
            "scope {key}: {what}; the next run compares the scope in full"
        ))
    };
    let mut rows = Vec::new();
    for volume in &known.unreported {
        let row = table.find(volume).ok_or_else(|| {
            inconsistent(
                "a volume the last run found missing from the report is not in the inventory",
            )
        })?;
        if !named.contains(volume.as_str()) {
            rows.push(row);
        }
    }
    let named_hashes: FxHashSet<u64> = named.iter().map(|v| crate::spill::volume_hash(v)).collect();
    let mut pending: FxHashSet<u64> = known
        .removed
        .iter()
        .copied()
        .filter(|h| !named_hashes.contains(h))
        .collect();
    if !pending.is_empty() {
        for row in 0..table.len() {
            if pending.remove(&crate::spill::volume_hash(table.volume(row))) {
                rows.push(row);
                if pending.is_empty() {
                    break;
                }
            }
        }
        if !pending.is_empty() {
            return Err(inconsistent(
                "a volume of a line of the last run is not in the inventory",
            ));
        }
    }
    if table.customer_exists && table.media_exists {
        rows.sort_unstable();
        rows.dedup();
        for row in rows {
            stats.note_not_in_report(key, table.volume(row));
        }
    }
    Ok(result)
}

/// [`diff_scope`]; `unreported`: whether the table's volumes no record names are counted
/// and listed missing from the report (not for a scope compared in part).
fn diff_records(
    table: &ScopeTable,
    records: &ScopeRecords,
    rules: &DiffRules<'_>,
    stats: &mut RunStats,
    unreported: bool,
) -> std::io::Result<(Vec<PendingChange>, Vec<ScopeRejection>)> {
    let key = records.key();
    let mut views: Vec<RecordView<'_>> =
        Vec::with_capacity(usize::try_from(records.len()).unwrap_or(0));
    for view in records.iter() {
        views.push(view?);
    }
    // Positions are kept as u32 (half the memory of the sort keys).
    if u32::try_from(views.len()).is_err() {
        return Err(std::io::Error::other(format!(
            "scope {key} has more than {} records",
            u32::MAX
        )));
    }
    let volumes = match_volumes(table, &views);
    let mut repeats = volumes.repeats.iter();

    // Position of each compared field (by `Field::index`), and its column in the table.
    let mut compared_at = [usize::MAX; Field::COUNT];
    for (j, f) in rules.compared.iter().enumerate() {
        compared_at[f.index()] = j;
    }
    let columns: Vec<Option<usize>> = rules.compared.iter().map(|f| table.column(*f)).collect();
    let current = |row: usize, j: usize| columns[j].and_then(|c| table.value(row, c));
    let repository_at = compared_at[Field::Repository.index()];
    let current_repository_at =
        Some(compared_at[Field::CurrentRepository.index()]).filter(|j| *j != usize::MAX);
    // Built when a record first names a REPOSITORY_DESC (most plans never do).
    let mut repositories_by_desc: Option<HashMap<String, &str>> = None;
    // For the unchanged check: each field's column in the table, by `Field::index`.
    let mut column_of = [Column::NotCompared; Field::COUNT];
    for (f, c) in rules.compared.iter().zip(&columns) {
        column_of[f.index()] = c.map_or(Column::Missing, Column::At);
    }

    // Results keyed by the position of the volume's first record, put in that order at the end.
    let mut changes: Vec<(u32, PendingChange)> = Vec::new();
    let mut rejected: Vec<(u32, ScopeRejection)> = Vec::new();
    let mut reject = |first: u32, line: u64, reason: String| {
        rejected.push((first, ScopeRejection { line, reason }));
    };
    let mut not_in_inventory: Vec<(u32, &str)> = Vec::new();
    let mut wanted: Vec<Option<&str>> = vec![None; rules.compared.len()];
    let scope_refusal = missing_scope(table, key, rules.new_ids);
    for volume in &volumes.named {
        if volume.first != volume.last {
            // `repeats` holds one entry per volume named more than once, in this order.
            let positions = repeats.next().map_or(&[][..], |p| p.as_slice());
            if let Some(reason) = disagreement(&views, positions) {
                for &p in positions {
                    reject(volume.first, views[p as usize].line, reason.clone());
                }
                continue;
            }
        }
        let view = &views[volume.last as usize];
        if let Some(row) = volume.row {
            if unchanged(table, row, view, &column_of) {
                stats.statistics.volumes_unchanged += 1;
                continue;
            }
        }
        wanted.fill(None);
        let mut description = None;
        for (f, v) in view.fields() {
            if f == Field::RepositoryDesc {
                description = Some(v);
            } else if let Some(slot) = wanted.get_mut(compared_at[f.index()]) {
                *slot = Some(v);
            }
        }
        if let (Some(desc), false) = (description, view.repository_by_rule) {
            let by_desc = repositories_by_desc.get_or_insert_with(|| {
                table
                    .repositories
                    .iter()
                    .map(|r| (r.description.trim().to_uppercase(), r.id.as_str()))
                    .collect()
            });
            match by_desc.get(&desc.trim().to_uppercase()) {
                Some(id) => {
                    if let Some(slot) = wanted.get_mut(repository_at) {
                        *slot = Some(id);
                    }
                }
                None => {
                    reject(
                        volume.first,
                        view.line,
                        format!(
                            "REPOSITORY_DESC `{desc}` is not the description of any repository of customer {}",
                            key.customer
                        ),
                    );
                    continue;
                }
            }
        }
        let set_of = |j_filter: &dyn Fn(usize) -> bool| -> BTreeMap<Field, Option<String>> {
            rules
                .compared
                .iter()
                .enumerate()
                .filter(|(j, _)| j_filter(*j))
                .filter_map(|(j, f)| wanted[j].map(|v| (*f, Some(v.to_string()))))
                .collect()
        };
        let (expected_version, set, before) = match volume.row {
            None if !rules.add_new => {
                not_in_inventory.push((volume.first, view.volume));
                continue;
            }
            None => {
                // A new volume of a customer or media that is not there and is not created.
                if let Some(reason) = &scope_refusal {
                    reject(volume.first, view.line, reason.clone());
                    continue;
                }
                (None, set_of(&|_| true), None)
            }
            Some(row) => {
                let differs = |j: usize| wanted[j].is_some_and(|v| current(row, j) != Some(v));
                if !(0..wanted.len()).any(differs) {
                    stats.statistics.volumes_unchanged += 1;
                    continue;
                }
                let set = set_of(&differs);
                if let Some(Some(proposed)) = set.get(&Field::Repository) {
                    let target = current(row, repository_at).unwrap_or("");
                    // Where the tape is: CURRENT_REPOSITORY (downloaded whenever the plan
                    // has skip rules, `Deriver::compared_fields`); a volume without one is
                    // where it should be, as the store reads it.
                    let now = current_repository_at
                        .and_then(|j| current(row, j))
                        .unwrap_or(target);
                    if rules.skips.iter().any(|s| {
                        s.proposed.matches(proposed)
                            && s.target.matches(target)
                            && s.current.matches(now)
                    }) {
                        stats.statistics.volumes_skipped += 1;
                        continue;
                    }
                }
                let before = rules
                    .compared
                    .iter()
                    .enumerate()
                    .filter_map(|(j, f)| current(row, j).map(|v| (*f, v.to_string())))
                    .collect();
                (Some(table.version(row)), set, Some(before))
            }
        };
        // The inventory refuses a repository the customer does not have unless the batch
        // may create it; finding that here, from the downloaded list, lets `--strict` stop
        // before anything is applied and a dry run show what a run would do. (The inventory
        // still checks: it may have changed since the download.)
        if let Some(Some(proposed)) = set.get(&Field::Repository) {
            if !table.repositories.iter().any(|r| r.id == *proposed)
                && !rules.new_ids.repository(proposed)
            {
                let missing = format!(
                    "repository {proposed} does not exist for customer {}",
                    key.customer
                );
                reject(volume.first, view.line, rules.new_ids.refusal(missing));
                continue;
            }
        }
        changes.push((
            volume.first,
            PendingChange {
                line: view.line,
                change: VolumeChange {
                    volume: view.volume.to_string(),
                    expected_version,
                    set,
                },
                before,
            },
        ));
    }
    // Positions are distinct (one entry per volume), so an unstable sort is exact.
    not_in_inventory.sort_unstable_by_key(|(first, _)| *first);
    for (_, volume) in not_in_inventory {
        stats.note_not_in_inventory(key, volume);
    }
    if unreported && table.customer_exists && table.media_exists {
        for row in volumes.unmatched_rows {
            stats.note_not_in_report(key, table.volume(row));
        }
    }
    changes.sort_unstable_by_key(|(first, _)| *first);
    // Stable: the records of one repeated volume share a position and stay in line order.
    rejected.sort_by_key(|(first, _)| *first);
    Ok((
        changes.into_iter().map(|(_, p)| p).collect(),
        rejected.into_iter().map(|(_, r)| r).collect(),
    ))
}

/// Where a field's current value is, for [`unchanged`].
#[derive(Clone, Copy)]
enum Column {
    /// The run does not compare the field.
    NotCompared,
    /// Compared, but the table has no column for it (no current value).
    Missing,
    At(usize),
}

/// Whether `view`'s record leaves the volume at `row` as it is, decided in one pass over the
/// record's values: every compared value equals the row's, and the record names no
/// REPOSITORY_DESC (which must be looked up first). `false` does not mean that it changes
/// something — only that the full comparison has to decide.
fn unchanged(table: &ScopeTable, row: usize, view: &RecordView<'_>, column_of: &[Column]) -> bool {
    view.fields().all(|(f, v)| {
        f != Field::RepositoryDesc
            && match column_of[f.index()] {
                Column::NotCompared => true,
                Column::Missing => false,
                Column::At(c) => table.value_is(row, c, v),
            }
    })
}

/// Why new volumes of the scope cannot be created: its customer or media is missing and may
/// not be created. `None` when both exist or may be created.
fn missing_scope(
    table: &ScopeTable,
    key: &tapesync_model::ScopeKey,
    new_ids: &NewIds,
) -> Option<String> {
    let missing = if !table.customer_exists && !new_ids.customer(&key.customer) {
        format!("customer {} does not exist", key.customer)
    } else if !table.media_exists && !new_ids.media(&key.media) {
        format!(
            "media {} does not exist for customer {}",
            key.media, key.customer
        )
    } else {
        return None;
    };
    Some(new_ids.refusal(missing))
}

/// One volume named by a scope's records.
struct NamedVolume {
    /// Position of its first record (the volume's place in the input order).
    first: u32,
    /// Position of its last record (the one that counts when they all agree).
    last: u32,
    /// Its row in the table, if the table has it.
    row: Option<usize>,
}

/// The scope's records matched with the table's rows.
struct Matched {
    /// One entry per distinct Volume-ID the records name, in Volume-ID order.
    named: Vec<NamedVolume>,
    /// Rows no record names, in table order.
    unmatched_rows: Vec<usize>,
    /// For each volume of `named` with more than one record (in the same order), the
    /// positions of all its records in input order. Kept apart: nearly every volume has one.
    repeats: Vec<Vec<u32>>,
}

/// Why the records at `positions` (one volume's) cannot be applied, or `None` when they all
/// say the same.
fn disagreement(views: &[RecordView<'_>], positions: &[u32]) -> Option<String> {
    let (&first, rest) = positions.split_first()?;
    let a = &views[first as usize];
    let differing = rest.iter().find_map(|&p| {
        let b = &views[p as usize];
        let (mut fa, mut fb) = (a.fields(), b.fields());
        loop {
            match (fa.next(), fb.next()) {
                (None, None) if a.repository_by_rule == b.repository_by_rule => return None,
                (None, None) => return Some(("REPOSITORY".to_string(), b.line)),
                (x, y) if x == y => {}
                (x, y) => {
                    let field = match (x, y) {
                        (Some((f, _)), Some((g, _))) => f.min(g),
                        (Some((f, _)), None) | (None, Some((f, _))) => f,
                        (None, None) => return None,
                    };
                    let value = |v: Option<(Field, &str)>| match v {
                        Some((f, v)) if f == field => format!("`{v}`"),
                        _ => "no value".to_string(),
                    };
                    let what = format!(
                        "{field} {} on line {}, {} on line {}",
                        value(x),
                        a.line,
                        value(y),
                        b.line
                    );
                    return Some((what, b.line));
                }
            }
        }
    })?;
    let lines: Vec<String> = positions
        .iter()
        .map(|&p| views[p as usize].line.to_string())
        .collect();
    Some(format!(
        "volume {} is named by {} records that disagree (lines {}; {}): none of them is applied",
        a.volume,
        positions.len(),
        lines.join(", "),
        differing.0
    ))
}

/// The first 8 bytes of a Volume-ID as a big-endian number (zero-padded): comparing two of
/// them orders Volume-IDs as comparing the strings does, except that equal prefixes need the
/// whole strings compared.
fn prefix(volume: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = volume.len().min(8);
    bytes[..n].copy_from_slice(&volume.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

/// Sorts `order` by its first element, keeping the order of entries with equal ones: a
/// least-significant-byte-first radix sort that skips the bytes all keys share (a scope's
/// Volume-IDs mostly differ in a few of their eight). A comparison sort of a shuffled scope
/// was most of the diff's own instructions on an unchanged night.
fn sort_by_prefix(order: &mut Vec<(u64, u32)>) {
    let mut counts = [[0u32; 256]; 8];
    for &(key, _) in order.iter() {
        for (byte, count) in counts.iter_mut().enumerate() {
            count[(key >> (8 * byte)) as u8 as usize] += 1;
        }
    }
    let mut spare = Vec::new();
    for (byte, count) in counts.iter_mut().enumerate() {
        if count.iter().any(|&n| n as usize == order.len()) {
            continue;
        }
        let mut next = 0;
        for n in count.iter_mut() {
            (*n, next) = (next, next + *n);
        }
        spare.clear();
        spare.resize(order.len(), (0, 0));
        for &entry in order.iter() {
            let slot = &mut count[(entry.0 >> (8 * byte)) as u8 as usize];
            spare[*slot as usize] = entry;
            *slot += 1;
        }
        std::mem::swap(order, &mut spare);
    }
}

/// Merges the records (in input order) with the table's rows (in Volume-ID order, as
/// [`ScopeTable`] guarantees).
fn match_volumes(table: &ScopeTable, views: &[RecordView<'_>]) -> Matched {
    let mut order: Vec<(u64, u32)> = views
        .iter()
        .enumerate()
        .map(|(i, v)| (prefix(v.volume), i as u32))
        .collect();
    // By Volume-ID, then by position: a volume's records end up together, first one first.
    // The prefixes are sorted by radix, which keeps the input (position) order among equal
    // prefixes; only those runs need the whole Volume-IDs, and a stable sort of a run by
    // Volume-ID keeps it in position order.
    sort_by_prefix(&mut order);
    let mut i = 0;
    while i < order.len() {
        let run = order[i..].iter().take_while(|e| e.0 == order[i].0).count();
        if run > 1 {
            order[i..i + run]
                .sort_by(|a, b| views[a.1 as usize].volume.cmp(views[b.1 as usize].volume));
        }
        i += run;
    }
    let mut named = Vec::with_capacity(order.len());
    let mut unmatched_rows = Vec::new();
    let mut repeats = Vec::new();
    let mut row = 0;
    let mut i = 0;
    while i < order.len() {
        let (first_prefix, first) = order[i];
        let volume = views[first as usize].volume;
        let start = i;
        let mut last = first;
        i += 1;
        while i < order.len()
            && order[i].0 == first_prefix
            && views[order[i].1 as usize].volume == volume
        {
            last = order[i].1;
            i += 1;
        }
        if i - start > 1 {
            repeats.push(order[start..i].iter().map(|&(_, p)| p).collect());
        }
        // One comparison per row decides both "before" and "the same".
        let mut found = false;
        while row < table.len() {
            match table.volume(row).cmp(volume) {
                std::cmp::Ordering::Less => {
                    unmatched_rows.push(row);
                    row += 1;
                }
                ordering => {
                    found = ordering == std::cmp::Ordering::Equal;
                    break;
                }
            }
        }
        named.push(NamedVolume {
            first,
            last,
            row: found.then_some(row),
        });
        if found {
            row += 1;
        }
    }
    unmatched_rows.extend(row..table.len());
    Matched {
        named,
        unmatched_rows,
        repeats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::SyncRecord;
    use crate::testutil::glob;
    use tapesync_model::{RepositoryInfo, ScopeKey, ScopeSnapshot, VolumeState};

    fn scope() -> ScopeKey {
        ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        }
    }

    fn cache() -> ScopeTable {
        let vol = |id: &str, repo: &str| VolumeState {
            volume: id.into(),
            version: 3,
            fields: [(Field::Repository, repo.to_string())]
                .into_iter()
                .collect(),
        };
        crate::target::table_from_snapshot(
            ScopeSnapshot {
                customer_exists: true,
                media_exists: true,
                repositories: vec![RepositoryInfo {
                    id: "OFFS".into(),
                    description: "Offsite Vault".into(),
                }],
                volumes: vec![vol("A1", "LIBR"), vol("A2", "HOLD"), vol("A3", "LIBR")],
            },
            &[Field::Repository, Field::Slot],
        )
        .unwrap()
    }

    fn records(records: Vec<SyncRecord>) -> ScopeRecords {
        ScopeRecords::from_records(scope(), &records).unwrap()
    }

    fn rec(volume: &str, fields: &[(Field, &str)]) -> SyncRecord {
        SyncRecord {
            line: 1,
            scope: scope(),
            volume: volume.into(),
            fields: fields.iter().map(|(f, v)| (*f, v.to_string())).collect(),
            repository_by_rule: false,
        }
    }

    #[test]
    fn diff_desc_skip_duplicates_and_lists() {
        // DATA_CLUSTER is compared but the table has no column for it (a record that names
        // it always changes the volume); DESCRIPTION is not compared at all.
        let compared = [Field::Repository, Field::Slot, Field::DataCluster];
        let skips = vec![SkipOnRepositoryChange {
            proposed: glob("*"),
            target: glob("HOLD"),
            current: glob("*"),
        }];
        let rules = DiffRules {
            compared: &compared,
            skips: &skips,
            add_new: false,
            new_ids: &NewIds::default(),
        };
        let mut stats = RunStats::default();
        let (changes, rejected) = diff_scope(
            &cache(),
            &records(vec![
                rec(
                    "A1",
                    &[(Field::RepositoryDesc, "Offsite VAULT"), (Field::Slot, "7")],
                ),
                rec("A2", &[(Field::Repository, "OFFS")]),
                rec(
                    "A1",
                    &[(Field::RepositoryDesc, "Offsite VAULT"), (Field::Slot, "7")],
                ),
                rec("B9", &[(Field::Repository, "OFFS")]),
                rec("A3", &[(Field::RepositoryDesc, "nowhere")]),
            ]),
            &rules,
            &mut stats,
        )
        .unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change.volume, "A1");
        assert_eq!(changes[0].change.expected_version, Some(3));
        assert_eq!(changes[0].change.set.len(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(stats.statistics.volumes_skipped, 1);
        assert_eq!(stats.not_in_inventory, ["US01.LTO B9"]);
        // A3 was named (and rejected), so only nothing else is missing from the report.
        assert_eq!(stats.statistics.volumes_not_in_report, 0);
    }

    #[test]
    fn repeated_volumes_that_disagree_are_all_rejected() {
        let compared = [Field::Repository, Field::Slot];
        let rules = DiffRules {
            compared: &compared,
            skips: &[],
            add_new: false,
            new_ids: &NewIds::default(),
        };
        let at = |line: u64, volume: &str, fields: &[(Field, &str)]| SyncRecord {
            line,
            ..rec(volume, fields)
        };
        let mut stats = RunStats::default();
        let (changes, rejected) = diff_scope(
            &cache(),
            &records(vec![
                at(1, "A1", &[(Field::Repository, "OFFS"), (Field::Slot, "1")]),
                at(2, "A2", &[(Field::Repository, "OFFS")]),
                at(3, "A1", &[(Field::Repository, "OFFS")]),
                at(4, "A2", &[(Field::Repository, "OFFS")]),
                at(5, "A1", &[(Field::Repository, "OFFS"), (Field::Slot, "1")]),
            ]),
            &rules,
            &mut stats,
        )
        .unwrap();
        // A2's two records agree: one change. A1's disagree: all three lines rejected.
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change.volume, "A2");
        let lines: Vec<u64> = rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 3, 5]);
        assert_eq!(
            rejected[0].reason,
            "volume A1 is named by 3 records that disagree (lines 1, 3, 5; SLOT `1` on line 1, \
             no value on line 3): none of them is applied"
        );
        assert_eq!(stats.statistics.volumes_not_in_report, 1);
    }

    /// `--add-new` creates a volume in a repository the customer lacks only when the
    /// definition names that repository; otherwise the record is rejected, naming it.
    #[test]
    fn unchanged_and_add_new() {
        let compared = [Field::Repository];
        let named = NewIds::naming_repositories(&["LIBR"]);
        let unnamed = NewIds::naming_repositories(&[]);
        for (new_ids, created) in [(&named, true), (&unnamed, false)] {
            let rules = DiffRules {
                compared: &compared,
                skips: &[],
                add_new: true,
                new_ids,
            };
            let mut stats = RunStats::default();
            let (changes, rejected) = diff_scope(
                &cache(),
                &records(vec![
                    rec(
                        "A1",
                        &[(Field::Repository, "LIBR"), (Field::Slot, "ignored")],
                    ),
                    rec("NEW1", &[(Field::Repository, "LIBR")]),
                    rec("NEW2", &[(Field::Repository, "OFFS")]),
                ]),
                &rules,
                &mut stats,
            )
            .unwrap();
            assert_eq!(stats.statistics.volumes_unchanged, 1);
            let volumes: Vec<&str> = changes.iter().map(|c| c.change.volume.as_str()).collect();
            if created {
                assert_eq!(volumes, ["NEW1", "NEW2"]);
                assert!(rejected.is_empty());
            } else {
                assert_eq!(volumes, ["NEW2"]);
                assert_eq!(
                    rejected[0].reason,
                    "repository LIBR does not exist for customer US01; --add-new creates only \
                     the customers, media and repositories the definition names (add it with \
                     `tapesync admin`, correct the report, or allow the report's own with \
                     --add-new-ids)"
                );
            }
            assert_eq!(changes[0].change.expected_version, None);
            assert_eq!(stats.not_in_report, ["US01.LTO A2", "US01.LTO A3"]);
        }
    }

    /// The radix sort gives what a stable comparison sort gives, for keys that differ in
    /// every byte, in a few bytes, or not at all, and for any length.
    #[test]
    fn sort_by_prefix_is_a_stable_sort() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..200u32 {
            let len = [0, 1, 2, 3, 17, 255, 256, 257, 1000][case as usize % 9];
            let mask = [
                u64::MAX,
                0xff00,
                0x00ff_0000_0000_0f0f,
                0,
                0x8000_0000_0000_0001,
            ][case as usize % 5];
            let mut order: Vec<(u64, u32)> = (0..len)
                .map(|i| (next() & mask | 0x4100_0000_0000_0000, i))
                .collect();
            let mut want = order.clone();
            want.sort_by_key(|e| e.0);
            sort_by_prefix(&mut order);
            assert_eq!(order, want, "case {case}");
        }
    }

    /// The diff done the plain way — each volume looked up by name, in input order — as the
    /// oracle for the merge in `diff_scope`.
    fn reference_diff(
        table: &ScopeTable,
        records: &[SyncRecord],
        rules: &DiffRules<'_>,
    ) -> (Vec<PendingChange>, Vec<(u64, String)>, RunStats) {
        let mut stats = RunStats::default();
        let mut order: Vec<&str> = Vec::new();
        let mut all: HashMap<&str, Vec<&SyncRecord>> = HashMap::new();
        for r in records {
            let of_volume = all.entry(&r.volume).or_default();
            if of_volume.is_empty() {
                order.push(&r.volume);
            }
            of_volume.push(r);
        }
        let by_desc: HashMap<String, &str> = table
            .repositories
            .iter()
            .map(|r| (r.description.trim().to_uppercase(), r.id.as_str()))
            .collect();
        let value = |row: usize, f: Field| table.column(f).and_then(|c| table.value(row, c));
        let (mut changes, mut rejected) = (Vec::new(), Vec::new());
        for volume in &order {
            let of_volume = &all[volume];
            let r = of_volume[of_volume.len() - 1];
            let agree = |o: &&SyncRecord| {
                o.fields == r.fields && o.repository_by_rule == r.repository_by_rule
            };
            if !of_volume.iter().all(agree) {
                rejected.extend(of_volume.iter().map(|o| (o.line, String::new())));
                continue;
            }
            let mut wanted: BTreeMap<Field, &str> = r
                .fields
                .iter()
                .filter(|(f, _)| rules.compared.contains(f))
                .map(|(f, v)| (*f, v.as_str()))
                .collect();
            if let (Some(desc), false) =
                (r.fields.get(&Field::RepositoryDesc), r.repository_by_rule)
            {
                match by_desc.get(&desc.trim().to_uppercase()) {
                    Some(id) if rules.compared.contains(&Field::Repository) => {
                        wanted.insert(Field::Repository, id);
                    }
                    Some(_) => {}
                    None => {
                        rejected.push((r.line, desc.clone()));
                        continue;
                    }
                }
            }
            let exists = |p: &str| table.repositories.iter().any(|x| x.id == p);
            let Some(row) = table.find(volume) else {
                if rules.add_new {
                    let scope_refused = (!table.customer_exists
                        && !rules.new_ids.customer(&scope().customer))
                        || (!table.media_exists && !rules.new_ids.media(&scope().media));
                    let repository_refused = wanted
                        .get(&Field::Repository)
                        .is_some_and(|p| !exists(p) && !rules.new_ids.repository(p));
                    if scope_refused || repository_refused {
                        rejected.push((r.line, String::new()));
                        continue;
                    }
                    changes.push(PendingChange {
                        line: r.line,
                        change: VolumeChange {
                            volume: volume.to_string(),
                            expected_version: None,
                            set: wanted
                                .iter()
                                .map(|(f, v)| (*f, Some(v.to_string())))
                                .collect(),
                        },
                        before: None,
                    });
                } else {
                    stats.note_not_in_inventory(&scope(), volume);
                }
                continue;
            };
            let set: BTreeMap<Field, Option<String>> = wanted
                .iter()
                .filter(|(f, v)| value(row, **f) != Some(**v))
                .map(|(f, v)| (*f, Some(v.to_string())))
                .collect();
            if set.is_empty() {
                stats.statistics.volumes_unchanged += 1;
                continue;
            }
            if let Some(Some(proposed)) = set.get(&Field::Repository) {
                let target = value(row, Field::Repository).unwrap_or("");
                let now = value(row, Field::CurrentRepository).unwrap_or(target);
                if rules.skips.iter().any(|s| {
                    s.proposed.matches(proposed)
                        && s.target.matches(target)
                        && s.current.matches(now)
                }) {
                    stats.statistics.volumes_skipped += 1;
                    continue;
                }
                if !exists(proposed) && !rules.new_ids.repository(proposed) {
                    rejected.push((r.line, proposed.clone()));
                    continue;
                }
            }
            changes.push(PendingChange {
                line: r.line,
                change: VolumeChange {
                    volume: volume.to_string(),
                    expected_version: Some(table.version(row)),
                    set,
                },
                before: Some(
                    rules
                        .compared
                        .iter()
                        .filter_map(|f| value(row, *f).map(|v| (*f, v.to_string())))
                        .collect(),
                ),
            });
        }
        for row in 0..table.len() {
            if !all.contains_key(table.volume(row)) {
                stats.note_not_in_report(&scope(), table.volume(row));
            }
        }
        (changes, rejected, stats)
    }

    /// Generated scopes: Volume-IDs that share long prefixes (so that the 8-byte sort key
    /// ties), that are prefixes of each other, duplicates, volumes missing on either side,
    /// unknown repository descriptions. The merge must give exactly what the plain walk gives.
    #[test]
    fn the_merge_diff_equals_a_plain_walk() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let stems = ["A", "AB", "LONGPREFIX", "LONGPREFIY", "V00", "Z"];
        let repos = ["LIBR", "OFFS", "HOLD"];
        // DATA_CLUSTER is compared but the table has no column for it (a record that names
        // it always changes the volume); DESCRIPTION is not compared at all.
        let compared = [Field::Repository, Field::Slot, Field::DataCluster];
        let skips = vec![SkipOnRepositoryChange {
            proposed: glob("*"),
            target: glob("HOLD"),
            current: glob("*"),
        }];
        for case in 0..300 {
            let id = |next: &mut dyn FnMut(u64) -> u64| {
                let stem = stems[next(stems.len() as u64) as usize];
                match next(3) {
                    0 => stem.to_string(),
                    _ => format!("{stem}{}", next(40)),
                }
            };
            let mut volumes: Vec<String> = (0..next(30)).map(|_| id(&mut next)).collect();
            volumes.sort();
            volumes.dedup();
            let table = crate::target::table_from_snapshot(
                ScopeSnapshot {
                    customer_exists: true,
                    media_exists: true,
                    repositories: vec![
                        RepositoryInfo {
                            id: "OFFS".into(),
                            description: "Offsite Vault".into(),
                        },
                        RepositoryInfo {
                            id: "LIBR".into(),
                            description: "Library".into(),
                        },
                    ],
                    volumes: volumes
                        .iter()
                        .map(|v| VolumeState {
                            volume: v.clone(),
                            version: next(9) + 1,
                            fields: [
                                (Field::Repository, repos[next(3) as usize].to_string()),
                                (Field::Slot, next(3).to_string()),
                            ]
                            .into_iter()
                            .filter(|_| next(5) != 0)
                            .collect(),
                        })
                        .collect(),
                },
                &compared[..2],
            )
            .unwrap();
            let input: Vec<SyncRecord> = (0..next(50))
                .map(|line| {
                    let mut fields = Vec::new();
                    match next(4) {
                        0 => fields.push((
                            Field::RepositoryDesc,
                            ["library", "offsite vault", "nowhere"][next(3) as usize],
                        )),
                        1 => fields.push((Field::Repository, repos[next(3) as usize])),
                        _ => {}
                    }
                    if next(2) == 0 {
                        fields.push((Field::Slot, ["0", "1", "2"][next(3) as usize]));
                    }
                    match next(8) {
                        0 => fields.push((Field::DataCluster, "DC1")),
                        1 | 2 => fields.push((Field::Description, "not compared")),
                        _ => {}
                    }
                    let mut r = rec(&id(&mut next), &fields);
                    r.line = line + 1;
                    r
                })
                .collect();
            let creatable = [
                NewIds::default(),
                NewIds::naming_repositories(&["OFFS", "ZZZZ"]),
            ];
            for (add_new, new_ids) in [false, true].into_iter().zip(&creatable) {
                let rules = DiffRules {
                    compared: &compared,
                    skips: &skips,
                    add_new,
                    new_ids,
                };
                let mut stats = RunStats::default();
                let (changes, rejected) =
                    diff_scope(&table, &records(input.clone()), &rules, &mut stats).unwrap();
                let (want_changes, want_rejected, want_stats) =
                    reference_diff(&table, &input, &rules);
                assert_eq!(changes, want_changes, "case {case}");
                let rejected: Vec<u64> = rejected.iter().map(|r| r.line).collect();
                let want_rejected: Vec<u64> = want_rejected.iter().map(|r| r.0).collect();
                assert_eq!(rejected, want_rejected, "case {case}");
                assert_eq!(
                    stats.not_in_inventory, want_stats.not_in_inventory,
                    "case {case}"
                );
                assert_eq!(stats.not_in_report, want_stats.not_in_report, "case {case}");
                assert_eq!(stats.statistics, want_stats.statistics, "case {case}");
            }
        }
    }
}
