//! The statistics of a run: the counters (recorded with the session) plus the volumes behind
//! three of them, as the table printed at the end of every run and as `--stats-json`.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use tapesync_model::{ScopeKey, SyncStatistics};
use tapesync_store::ScratchLevel;

/// The volume lists keep at most this many entries each (their counters count all).
pub const LIST_CAP: usize = 10_000;

/// How many entries of each list the table shows.
pub const TABLE_LIST_ENTRIES: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    #[serde(flatten)]
    pub statistics: SyncStatistics,
    /// True for `--dry-run`: the update/add counters say what would have happened.
    #[serde(default)]
    pub dry_run: bool,
    /// `CUSTOMER.MEDIA VOLUME` of volumes the report named that the inventory does not have
    /// (and that were not created because `--add-new` was not given).
    #[serde(default)]
    pub not_in_inventory: Vec<String>,
    /// `CUSTOMER.MEDIA VOLUME` of volumes of synced scopes that the report did not name.
    #[serde(default)]
    pub not_in_report: Vec<String>,
    /// `CUSTOMER.MEDIA VOLUME` of volumes whose change was not applied because someone else
    /// changed them after the download (the `conflicts` counter). Left out of the JSON when
    /// empty: conflicts are rare, and every existing consumer's file stays as it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_conflict: Vec<String>,
    /// Scopes neither loaded nor compared because the run before left them settled
    /// (docs/running.md, "Settled scopes"); they are counted in `scopes_from_cache` too. Left
    /// out of the JSON when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scopes_settled: u64,
    /// Scopes compared in part: only the lines the run before did not have were derived and
    /// compared (docs/running.md, "Scopes compared in part"). Left out of the JSON when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scopes_in_part: u64,
    /// The places (customer, media, repository) of the synced scopes that the sync left with
    /// fewer scratch volumes than their minimum (`tapesync admin scratch-min`). Absent from the
    /// JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scratch_short: Vec<ScratchLevel>,
}

impl RunStats {
    pub(crate) fn note_not_in_inventory(&mut self, scope: &ScopeKey, volume: &str) {
        self.statistics.volumes_not_in_inventory += 1;
        if self.not_in_inventory.len() < LIST_CAP {
            self.not_in_inventory.push(format!("{scope} {volume}"));
        }
    }

    pub(crate) fn note_not_in_report(&mut self, scope: &ScopeKey, volume: &str) {
        self.statistics.volumes_not_in_report += 1;
        if self.not_in_report.len() < LIST_CAP {
            self.not_in_report.push(format!("{scope} {volume}"));
        }
    }

    pub(crate) fn note_conflict(&mut self, scope: &ScopeKey, volume: &str) {
        self.statistics.conflicts += 1;
        if self.in_conflict.len() < LIST_CAP {
            self.in_conflict.push(format!("{scope} {volume}"));
        }
    }

    /// Adds what `delta` counted (statistics gathered apart, e.g. a scope's diff on another
    /// thread) as if it had been counted here after everything counted so far: counters add
    /// up, and the lists take `delta`'s entries behind their own, up to [`LIST_CAP`] as the
    /// `note_*` methods would. `dry_run`, `grouped_by_scope` and `elapsed_ms` describe the
    /// whole run and are left as they are.
    pub(crate) fn merge(&mut self, delta: RunStats) {
        let s = &mut self.statistics;
        let d = delta.statistics;
        s.records_read += d.records_read;
        s.records_excluded += d.records_excluded;
        s.records_rejected += d.records_rejected;
        s.volumes_unchanged += d.volumes_unchanged;
        s.volumes_updated += d.volumes_updated;
        s.volumes_added += d.volumes_added;
        s.volumes_not_in_inventory += d.volumes_not_in_inventory;
        s.volumes_not_in_report += d.volumes_not_in_report;
        s.conflicts += d.conflicts;
        s.volumes_skipped += d.volumes_skipped;
        s.moves.add(&d.moves);
        s.scope_downloads += d.scope_downloads;
        s.scopes_from_cache += d.scopes_from_cache;
        s.apply_batches += d.apply_batches;
        s.scopes += d.scopes;
        self.scopes_settled += delta.scopes_settled;
        self.scopes_in_part += delta.scopes_in_part;
        for (list, more) in [
            (&mut self.not_in_inventory, delta.not_in_inventory),
            (&mut self.not_in_report, delta.not_in_report),
            (&mut self.in_conflict, delta.in_conflict),
        ] {
            let room = LIST_CAP.saturating_sub(list.len());
            list.extend(more.into_iter().take(room));
        }
        self.scratch_short.extend(delta.scratch_short);
    }

    /// Whether the input had problems: rejected records or conflicting volumes (exit code 1).
    pub fn has_problems(&self) -> bool {
        self.statistics.records_rejected > 0 || self.statistics.conflicts > 0
    }

    /// The human table printed at the end of a run.
    pub fn table(&self) -> String {
        let s = &self.statistics;
        let would = if self.dry_run { " (would be)" } else { "" };
        let mut rows: Vec<(String, String)> = vec![
            ("records read".into(), s.records_read.to_string()),
            ("records excluded".into(), s.records_excluded.to_string()),
            ("records rejected".into(), s.records_rejected.to_string()),
            ("volumes unchanged".into(), s.volumes_unchanged.to_string()),
            (
                format!("volumes updated{would}"),
                s.volumes_updated.to_string(),
            ),
            (format!("volumes added{would}"), s.volumes_added.to_string()),
            (
                "volumes not in inventory".into(),
                s.volumes_not_in_inventory.to_string(),
            ),
            (
                "volumes not in report".into(),
                s.volumes_not_in_report.to_string(),
            ),
            (
                "volumes skipped (rule)".into(),
                s.volumes_skipped.to_string(),
            ),
            ("moves created".into(), s.moves.created.to_string()),
            ("moves changed".into(), s.moves.changed.to_string()),
            ("moves cancelled".into(), s.moves.cancelled.to_string()),
            ("moves completed".into(), s.moves.completed.to_string()),
            ("conflicts".into(), s.conflicts.to_string()),
            ("scopes".into(), s.scopes.to_string()),
            ("scope downloads".into(), s.scope_downloads.to_string()),
            ("scopes from cache".into(), s.scopes_from_cache.to_string()),
            ("apply batches".into(), s.apply_batches.to_string()),
            (
                "grouped by scope".into(),
                if s.grouped_by_scope { "yes" } else { "no" }.into(),
            ),
            ("elapsed".into(), format!("{} ms", s.elapsed_ms)),
        ];
        // Only when it happened: the row is an alert, not a counter of every run.
        if !self.scratch_short.is_empty() {
            rows.push((
                "scratch below minimum".into(),
                self.scratch_short.len().to_string(),
            ));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        if self.dry_run {
            out.push_str("dry run: nothing was changed\n");
        }
        for (k, v) in &rows {
            let _ = writeln!(out, "{k:<width$}  {v:>10}");
        }
        list(
            &mut out,
            "volumes not in inventory",
            &self.not_in_inventory,
            s.volumes_not_in_inventory,
        );
        list(
            &mut out,
            "volumes not in report",
            &self.not_in_report,
            s.volumes_not_in_report,
        );
        list(
            &mut out,
            "volumes in conflict",
            &self.in_conflict,
            s.conflicts,
        );
        if !self.scratch_short.is_empty() {
            out.push_str("\nbelow their scratch minimum:\n");
            for l in &self.scratch_short {
                let _ = writeln!(
                    out,
                    "  {}.{} {}: {} scratch, minimum {}",
                    l.customer, l.media, l.repository, l.scratch, l.minimum
                );
            }
        }
        out
    }
}

fn list(out: &mut String, title: &str, entries: &[String], total: u64) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for e in entries.iter().take(TABLE_LIST_ENTRIES) {
        let _ = writeln!(out, "  {e}");
    }
    let shown = entries.len().min(TABLE_LIST_ENTRIES) as u64;
    if total > shown {
        let _ = writeln!(out, "  … and {} more (all in --stats-json)", total - shown);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_is_capped_and_every_entry_counted() {
        let scope = ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        };
        let mut stats = RunStats::default();
        let n = LIST_CAP as u64 + 5;
        for i in 0..n {
            let volume = format!("V{i}");
            stats.note_conflict(&scope, &volume);
            stats.note_not_in_report(&scope, &volume);
        }
        assert_eq!(stats.statistics.conflicts, n);
        assert_eq!(stats.in_conflict.len(), LIST_CAP);
        assert_eq!(stats.in_conflict[0], "US01.LTO V0");
        assert_eq!(stats.not_in_report.len(), LIST_CAP);
        let table = stats.table();
        assert!(
            table.contains("\nvolumes in conflict:\n  US01.LTO V0\n"),
            "{table}"
        );
        assert!(
            table.contains(&format!("  … and {} more (all in --stats-json)", n - 20)),
            "{table}"
        );
    }

    /// Counting into a delta and merging it gives what counting in place gives, the caps
    /// included.
    #[test]
    fn merging_a_delta_equals_counting_in_place() {
        let scope = |c: &str| ScopeKey {
            customer: c.into(),
            media: "LTO".into(),
        };
        let count = |stats: &mut RunStats, c: &str, n: usize| {
            for i in 0..n {
                let volume = format!("V{i}");
                stats.note_not_in_inventory(&scope(c), &volume);
                stats.note_not_in_report(&scope(c), &volume);
                stats.note_conflict(&scope(c), &volume);
                stats.statistics.volumes_unchanged += 1;
                stats.statistics.volumes_skipped += 2;
                stats.statistics.scopes_from_cache += 1;
                stats.statistics.moves.created += 1;
            }
        };
        let mut in_place = RunStats::default();
        count(&mut in_place, "A", LIST_CAP - 3);
        count(&mut in_place, "B", 7);
        let mut merged = RunStats::default();
        count(&mut merged, "A", LIST_CAP - 3);
        let mut delta = RunStats::default();
        count(&mut delta, "B", 7);
        merged.merge(delta);
        assert_eq!(merged, in_place);
        assert_eq!(merged.not_in_report.len(), LIST_CAP);
        assert_eq!(merged.not_in_report.last().unwrap(), "B.LTO V2");
        assert_eq!(merged.statistics.volumes_not_in_report, LIST_CAP as u64 + 4);
    }
}
