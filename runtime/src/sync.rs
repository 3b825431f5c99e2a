//! One scope at a time: the [`ScopeCache`] (a downloaded scope), the diff of derived records
//! against it, and applying the resulting changes in atomic, idempotent, retried batches.

use crate::derive::SyncRecord;
use crate::observer::Observer;
use crate::report::RunReport;
use crate::target::{Target, TargetError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tapesync_compiler::plan::SkipOnRepositoryChange;
use tapesync_model::{
    ApplyBatch, Field, ScopeKey, ScopeSnapshot, VolumeChange, VolumeOutcome, VolumeState,
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

/// A downloaded scope: its volumes by Volume-ID and the customer's repositories.
pub struct ScopeCache {
    pub key: ScopeKey,
    pub exists: bool,
    volumes: HashMap<String, VolumeState>,
    /// Upper-cased repository description → Repository-ID.
    repositories_by_desc: HashMap<String, String>,
    order: Vec<String>,
}

impl ScopeCache {
    pub fn new(key: ScopeKey, snapshot: ScopeSnapshot) -> ScopeCache {
        let repositories_by_desc = snapshot
            .repositories
            .iter()
            .map(|r| (r.description.trim().to_uppercase(), r.id.clone()))
            .collect();
        let order = snapshot.volumes.iter().map(|v| v.volume.clone()).collect();
        ScopeCache {
            key,
            exists: snapshot.customer_exists && snapshot.media_exists,
            volumes: snapshot
                .volumes
                .into_iter()
                .map(|v| (v.volume.clone(), v))
                .collect(),
            repositories_by_desc,
            order,
        }
    }

    pub fn volume(&self, id: &str) -> Option<&VolumeState> {
        self.volumes.get(id)
    }

    pub fn repository_by_description(&self, description: &str) -> Option<&str> {
        self.repositories_by_desc
            .get(&description.trim().to_uppercase())
            .map(String::as_str)
    }

    /// Volumes of the scope, in the order the target listed them.
    pub fn volume_ids(&self) -> &[String] {
        &self.order
    }
}

/// A change to send, with what the volume held before (for dry-run output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub line: u64,
    pub change: VolumeChange,
    pub before: Option<BTreeMap<Field, String>>,
}

/// What the diff needs besides the records.
pub struct DiffRules<'a> {
    pub compared: &'a [Field],
    pub skips: &'a [SkipOnRepositoryChange],
    pub add_new: bool,
}

/// A record the scope cannot take.
pub struct ScopeRejection {
    pub line: u64,
    pub reason: String,
}

/// Diffs the records of one scope (in input order; a volume named twice counts once, the
/// last record wins) against the cache. Counts unchanged, skipped, not-in-inventory and
/// not-in-report volumes into `report`; returns the changes and the rejected records.
pub fn plan_scope(
    cache: &ScopeCache,
    records: Vec<SyncRecord>,
    rules: &DiffRules<'_>,
    report: &mut RunReport,
) -> (Vec<Planned>, Vec<ScopeRejection>) {
    // Last record per volume wins; the volume keeps the position of its first record.
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut latest: Vec<SyncRecord> = Vec::new();
    for r in records {
        match position.get(&r.volume) {
            Some(i) => latest[*i] = r,
            None => {
                position.insert(r.volume.clone(), latest.len());
                latest.push(r);
            }
        }
    }
    let mut planned = Vec::new();
    let mut rejected = Vec::new();
    for mut r in latest {
        if let Some(desc) = r.fields.remove(&Field::RepositoryDesc) {
            if !r.repository_by_rule {
                match cache.repository_by_description(&desc) {
                    Some(id) => {
                        r.fields.insert(Field::Repository, id.to_string());
                    }
                    None => {
                        rejected.push(ScopeRejection {
                            line: r.line,
                            reason: format!(
                                "REPOSITORY_DESC `{desc}` is not the description of any repository of customer {}",
                                cache.key.customer
                            ),
                        });
                        continue;
                    }
                }
            }
        }
        // The fields this record wants set: compared fields it has a value for.
        let wanted = |fields: &BTreeMap<Field, String>| -> BTreeMap<Field, Option<String>> {
            rules
                .compared
                .iter()
                .filter_map(|f| fields.get(f).map(|v| (*f, Some(v.clone()))))
                .collect()
        };
        match cache.volume(&r.volume) {
            None => {
                if rules.add_new {
                    let wanted = wanted(&r.fields);
                    planned.push(Planned {
                        line: r.line,
                        change: VolumeChange {
                            volume: r.volume,
                            expected_version: None,
                            set: wanted,
                        },
                        before: None,
                    });
                } else {
                    report.note_not_in_inventory(&cache.key, &r.volume);
                }
            }
            Some(state) => {
                // Most volumes of a sync are unchanged: find that out without allocating.
                let differs = |f: &Field| {
                    r.fields
                        .get(f)
                        .is_some_and(|v| state.fields.get(f) != Some(v))
                };
                if !rules.compared.iter().any(differs) {
                    report.statistics.volumes_unchanged += 1;
                    continue;
                }
                let set: BTreeMap<Field, Option<String>> = rules
                    .compared
                    .iter()
                    .filter(|f| differs(f))
                    .filter_map(|f| r.fields.get(f).map(|v| (*f, Some(v.clone()))))
                    .collect();
                if let Some(Some(proposed)) = set.get(&Field::Repository) {
                    let current = state
                        .fields
                        .get(&Field::Repository)
                        .map(String::as_str)
                        .unwrap_or("");
                    // The inventory keeps one repository per volume, so the target and the
                    // current repository filters are both tested against it.
                    if rules.skips.iter().any(|s| {
                        s.proposed.matches(proposed)
                            && s.target.matches(current)
                            && s.current.matches(current)
                    }) {
                        report.statistics.volumes_skipped += 1;
                        continue;
                    }
                }
                planned.push(Planned {
                    line: r.line,
                    change: VolumeChange {
                        volume: r.volume,
                        expected_version: Some(state.version),
                        set,
                    },
                    before: Some(state.fields.clone()),
                });
            }
        }
    }
    if cache.exists {
        for id in cache.volume_ids() {
            if !position.contains_key(id) {
                report.note_not_in_report(&cache.key, id);
            }
        }
    }
    (planned, rejected)
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

impl Applier<'_> {
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
        for chunk in planned.chunks(self.batch_size.max(1)) {
            self.sequence += 1;
            let batch = ApplyBatch {
                idempotency_key: format!("{}-{}", self.run_key, self.sequence),
                session: self.session,
                create_missing: self.add_new,
                changes: chunk.iter().map(|p| p.change.clone()).collect(),
            };
            let target = &mut *self.target;
            let response = with_retry(&self.retry, || target.apply(scope, &batch))?;
            report.statistics.apply_batches += 1;
            if response.results.len() != chunk.len() {
                return Err(TargetError::Internal(format!(
                    "the inventory answered {} results for a batch of {} changes",
                    response.results.len(),
                    chunk.len()
                )));
            }
            for (p, result) in chunk.iter().zip(&response.results) {
                match &result.outcome {
                    VolumeOutcome::Applied { .. } => report.statistics.volumes_updated += 1,
                    VolumeOutcome::Created { .. } => report.statistics.volumes_added += 1,
                    VolumeOutcome::Conflict { .. } => {
                        report.statistics.conflicts += 1;
                        observer.warning(&format!(
                            "{}:{}: conflict: {scope} {} was changed by someone else since it was downloaded; not updated",
                            self.source_name, p.line, p.change.volume
                        ));
                    }
                    VolumeOutcome::Rejected { reason, .. } => {
                        report.statistics.records_rejected += 1;
                        observer.rejected(&self.source_name, p.line, reason);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::glob;
    use tapesync_model::RepositoryInfo;

    fn scope() -> ScopeKey {
        ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        }
    }

    fn cache() -> ScopeCache {
        let vol = |id: &str, repo: &str| VolumeState {
            volume: id.into(),
            version: 3,
            fields: [(Field::Repository, repo.to_string())]
                .into_iter()
                .collect(),
        };
        ScopeCache::new(
            scope(),
            ScopeSnapshot {
                customer_exists: true,
                media_exists: true,
                repositories: vec![RepositoryInfo {
                    id: "OFFS".into(),
                    description: "Offsite Vault".into(),
                }],
                volumes: vec![vol("A1", "LIBR"), vol("A2", "HOLD"), vol("A3", "LIBR")],
            },
        )
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
            vec![
                rec("A1", &[(Field::RepositoryDesc, "offsite vault")]),
                rec("A2", &[(Field::Repository, "OFFS")]),
                rec(
                    "A1",
                    &[(Field::RepositoryDesc, "Offsite VAULT"), (Field::Slot, "7")],
                ),
                rec("B9", &[(Field::Repository, "OFFS")]),
                rec("A3", &[(Field::RepositoryDesc, "nowhere")]),
            ],
            &rules,
            &mut report,
        );
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
            vec![
                rec(
                    "A1",
                    &[(Field::Repository, "LIBR"), (Field::Slot, "ignored")],
                ),
                rec("NEW1", &[(Field::Repository, "LIBR")]),
            ],
            &rules,
            &mut report,
        );
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
