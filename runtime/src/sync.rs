//! One scope at a time: the [`ScopeCache`] (a downloaded scope), the diff of derived records
//! against it, and applying the resulting changes in atomic, idempotent, retried batches.

use crate::observer::Observer;
use crate::report::RunReport;
use crate::spill::{RecordView, ScopeRecords};
use crate::target::{Target, TargetError};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tapesync_compiler::plan::SkipOnRepositoryChange;
use tapesync_model::{
    ApplyBatch, ApplyResponse, Field, ScopeKey, ScopeTable, VolumeChange, VolumeOutcome,
};

/// How transient target failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// Runs `op` until it succeeds, fails with something other than
/// [`TargetError::Unavailable`], or the attempts are used up.
pub fn with_retry<T>(
    policy: &RetryPolicy,
    mut op: impl FnMut() -> Result<T, TargetError>,
) -> Result<T, TargetError> {
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        match op() {
            Err(TargetError::Unavailable(_)) if attempt < policy.attempts.max(1) => {
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2).min(Duration::from_secs(30));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A change to send, with what the volume held before (for dry-run output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
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
    pub add_new: bool,
}

/// A record the scope cannot take.
pub struct ScopeRejection {
    pub line: u64,
    pub reason: String,
}

const NOT_SEEN: u32 = u32::MAX;

/// Diffs the records of one scope (in input order; a volume named twice counts once, the
/// last record wins) against the scope's table. Counts unchanged, skipped,
/// not-in-inventory and not-in-report volumes into `report`; returns the changes and the
/// rejected records.
///
/// Nothing is allocated for an unchanged volume — 99 % of a typical night: records are views
/// into the spilled bytes, the table is looked up by binary search, and values are compared
/// as borrowed text.
pub fn plan_scope(
    table: &ScopeTable,
    records: &ScopeRecords,
    rules: &DiffRules<'_>,
    report: &mut RunReport,
) -> std::io::Result<(Vec<Planned>, Vec<ScopeRejection>)> {
    let key = records.key();
    // Last record per volume wins; the volume keeps the position of its first record.
    // Volumes the table has are tracked by row, the others by name.
    let mut latest: Vec<(RecordView<'_>, Option<usize>)> = Vec::new();
    let mut slot_of_row = vec![NOT_SEEN; table.len()];
    let mut slot_of_new: FxHashMap<&str, usize> = FxHashMap::default();
    // A hash index beats binary search once a scope has more than a few volumes.
    let mut row_of: FxHashMap<&str, usize> = FxHashMap::default();
    row_of.reserve(table.len());
    for row in 0..table.len() {
        row_of.insert(table.volume(row), row);
    }
    for view in records.iter() {
        let view = view?;
        match row_of.get(view.volume).copied() {
            Some(row) => match slot_of_row[row] {
                NOT_SEEN => {
                    slot_of_row[row] = latest.len() as u32;
                    latest.push((view, Some(row)));
                }
                slot => latest[slot as usize].0 = view,
            },
            None => match slot_of_new.get(view.volume) {
                Some(slot) => latest[*slot].0 = view,
                None => {
                    slot_of_new.insert(view.volume, latest.len());
                    latest.push((view, None));
                }
            },
        }
    }

    // Position of each compared field (by `Field::index`), and its column in the table.
    let mut compared_at = [usize::MAX; Field::COUNT];
    for (j, f) in rules.compared.iter().enumerate() {
        compared_at[f.index()] = j;
    }
    let columns: Vec<Option<usize>> = rules.compared.iter().map(|f| table.column(*f)).collect();
    let current = |row: usize, j: usize| columns[j].and_then(|c| table.value(row, c));
    let repository_at = compared_at[Field::Repository.index()];
    let repositories_by_desc: HashMap<String, &str> = table
        .repositories
        .iter()
        .map(|r| (r.description.trim().to_uppercase(), r.id.as_str()))
        .collect();

    let mut planned = Vec::new();
    let mut rejected = Vec::new();
    let mut wanted: Vec<Option<&str>> = vec![None; rules.compared.len()];
    for (view, row) in &latest {
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
            match repositories_by_desc.get(&desc.trim().to_uppercase()) {
                Some(id) => {
                    if let Some(slot) = wanted.get_mut(repository_at) {
                        *slot = Some(id);
                    }
                }
                None => {
                    rejected.push(ScopeRejection {
                        line: view.line,
                        reason: format!(
                            "REPOSITORY_DESC `{desc}` is not the description of any repository of customer {}",
                            key.customer
                        ),
                    });
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
        let Some(row) = *row else {
            if rules.add_new {
                planned.push(Planned {
                    line: view.line,
                    change: VolumeChange {
                        volume: view.volume.to_string(),
                        expected_version: None,
                        set: set_of(&|_| true),
                    },
                    before: None,
                });
            } else {
                report.note_not_in_inventory(key, view.volume);
            }
            continue;
        };
        let differs = |j: usize| wanted[j].is_some_and(|v| current(row, j) != Some(v));
        if !(0..wanted.len()).any(differs) {
            report.statistics.volumes_unchanged += 1;
            continue;
        }
        let set = set_of(&differs);
        if let Some(Some(proposed)) = set.get(&Field::Repository) {
            let now = current(row, repository_at).unwrap_or("");
            // The inventory keeps one repository per volume, so the target and the current
            // repository filters are both tested against it.
            if rules.skips.iter().any(|s| {
                s.proposed.matches(proposed) && s.target.matches(now) && s.current.matches(now)
            }) {
                report.statistics.volumes_skipped += 1;
                continue;
            }
        }
        let before = rules
            .compared
            .iter()
            .enumerate()
            .filter_map(|(j, f)| current(row, j).map(|v| (*f, v.to_string())))
            .collect();
        planned.push(Planned {
            line: view.line,
            change: VolumeChange {
                volume: view.volume.to_string(),
                expected_version: Some(table.version(row)),
                set,
            },
            before: Some(before),
        });
    }
    if table.customer_exists && table.media_exists {
        for (row, slot) in slot_of_row.iter().enumerate() {
            if *slot == NOT_SEEN {
                report.note_not_in_report(key, table.volume(row));
            }
        }
    }
    Ok((planned, rejected))
}

/// Applies changes of one scope in batches.
pub struct Applier<'a> {
    pub target: &'a mut dyn Target,
    pub session: Option<i64>,
    /// Unique per run; batch keys are `<run key>-<sequence>`.
    pub run_key: String,
    pub sequence: u64,
    pub batch_size: usize,
    pub add_new: bool,
    pub retry: RetryPolicy,
    pub dry_run: bool,
    pub source_name: String,
}

/// What sending one scope's changes gave: the answers, batch by batch, and the error that
/// stopped the rest (if one did).
pub struct Sent {
    /// Batches the target answered (including one whose answer did not fit the batch).
    pub batches: u64,
    pub responses: Vec<ApplyResponse>,
    pub error: Option<TargetError>,
}

impl Applier<'_> {
    /// Sends `planned` and records the outcomes (or, for a dry run, reports them).
    pub fn apply(
        &mut self,
        scope: &ScopeKey,
        planned: &[Planned],
        report: &mut RunReport,
        observer: &mut dyn Observer,
    ) -> Result<(), TargetError> {
        if self.dry_run {
            for p in planned {
                observer.would_change(scope, &p.change, p.before.as_ref());
                match p.change.expected_version {
                    Some(_) => report.statistics.volumes_updated += 1,
                    None => report.statistics.volumes_added += 1,
                }
            }
            return Ok(());
        }
        let sent = self.send(scope, planned);
        record_outcomes(
            &self.source_name,
            self.batch_size,
            scope,
            planned,
            sent,
            report,
            observer,
        )
    }

    /// Sends `planned` in batches (retrying each with its own key) and collects the answers;
    /// touches neither the report nor the observer, so that it can run on another thread
    /// while the next scope is compared.
    pub fn send(&mut self, scope: &ScopeKey, planned: &[Planned]) -> Sent {
        let mut sent = Sent {
            batches: 0,
            responses: Vec::new(),
            error: None,
        };
        for chunk in planned.chunks(self.batch_size.max(1)) {
            self.sequence += 1;
            let batch = ApplyBatch {
                idempotency_key: format!("{}-{}", self.run_key, self.sequence),
                session: self.session,
                create_missing: self.add_new,
                changes: chunk.iter().map(|p| p.change.clone()).collect(),
            };
            let target = &mut *self.target;
            match with_retry(&self.retry, || target.apply(scope, &batch)) {
                Ok(response) => {
                    sent.batches += 1;
                    if response.results.len() != chunk.len() {
                        sent.error = Some(TargetError::Internal(format!(
                            "the inventory answered {} results for a batch of {} changes",
                            response.results.len(),
                            chunk.len()
                        )));
                        return sent;
                    }
                    sent.responses.push(response);
                }
                Err(e) => {
                    sent.error = Some(e);
                    return sent;
                }
            }
        }
        sent
    }
}

/// Counts and reports the outcomes of [`Applier::send`] for `planned` (in its order).
pub fn record_outcomes(
    source_name: &str,
    batch_size: usize,
    scope: &ScopeKey,
    planned: &[Planned],
    sent: Sent,
    report: &mut RunReport,
    observer: &mut dyn Observer,
) -> Result<(), TargetError> {
    report.statistics.apply_batches += sent.batches;
    for (chunk, response) in planned.chunks(batch_size.max(1)).zip(&sent.responses) {
        for (p, result) in chunk.iter().zip(&response.results) {
            match &result.outcome {
                VolumeOutcome::Applied { .. } => report.statistics.volumes_updated += 1,
                VolumeOutcome::Created { .. } => report.statistics.volumes_added += 1,
                VolumeOutcome::Conflict { .. } => {
                    report.statistics.conflicts += 1;
                    observer.warning(&format!(
                        "{source_name}:{}: conflict: {scope} {} was changed by someone else since it was downloaded; not updated",
                        p.line, p.change.volume
                    ));
                }
                VolumeOutcome::Rejected { reason, .. } => {
                    report.statistics.records_rejected += 1;
                    observer.rejected(source_name, p.line, reason);
                }
            }
        }
    }
    match sent.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::SyncRecord;
    use crate::testutil::glob;
    use tapesync_model::{RepositoryInfo, ScopeSnapshot, VolumeState};

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
        let compared = [Field::Repository, Field::Slot];
        let skips = vec![SkipOnRepositoryChange {
            proposed: glob("*"),
            target: glob("HOLD"),
            current: glob("*"),
        }];
        let rules = DiffRules {
            compared: &compared,
            skips: &skips,
            add_new: false,
        };
        let mut report = RunReport::default();
        let (planned, rejected) = plan_scope(
            &cache(),
            &records(vec![
                rec("A1", &[(Field::RepositoryDesc, "offsite vault")]),
                rec("A2", &[(Field::Repository, "OFFS")]),
                rec(
                    "A1",
                    &[(Field::RepositoryDesc, "Offsite VAULT"), (Field::Slot, "7")],
                ),
                rec("B9", &[(Field::Repository, "OFFS")]),
                rec("A3", &[(Field::RepositoryDesc, "nowhere")]),
            ]),
            &rules,
            &mut report,
        )
        .unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].change.volume, "A1");
        assert_eq!(planned[0].change.expected_version, Some(3));
        assert_eq!(planned[0].change.set.len(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(report.statistics.volumes_skipped, 1);
        assert_eq!(report.not_in_inventory, ["US01.LTO B9"]);
        // A3 was named (and rejected), so only nothing else is missing from the report.
        assert_eq!(report.statistics.volumes_not_in_report, 0);
    }

    #[test]
    fn unchanged_and_add_new() {
        let compared = [Field::Repository];
        let rules = DiffRules {
            compared: &compared,
            skips: &[],
            add_new: true,
        };
        let mut report = RunReport::default();
        let (planned, _) = plan_scope(
            &cache(),
            &records(vec![
                rec(
                    "A1",
                    &[(Field::Repository, "LIBR"), (Field::Slot, "ignored")],
                ),
                rec("NEW1", &[(Field::Repository, "LIBR")]),
            ]),
            &rules,
            &mut report,
        )
        .unwrap();
        assert_eq!(report.statistics.volumes_unchanged, 1);
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].change.expected_version, None);
        assert_eq!(report.not_in_report, ["US01.LTO A2", "US01.LTO A3"]);
    }

    #[test]
    fn retry_only_unavailable() {
        let policy = RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(1),
        };
        let mut calls = 0;
        let r: Result<(), _> = with_retry(&policy, || {
            calls += 1;
            Err(TargetError::Unavailable("down".into()))
        });
        assert!(r.is_err());
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r = with_retry(&policy, || {
            calls += 1;
            if calls < 2 {
                Err(TargetError::Unavailable("blip".into()))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 2);
        let mut calls = 0;
        let r: Result<(), _> = with_retry(&policy, || {
            calls += 1;
            Err(TargetError::Refused("bad".into()))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
