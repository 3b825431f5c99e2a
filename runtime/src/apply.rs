//! Applying a scope's changes: in batches of `--batch-size`, each atomic and idempotent (a key
//! per batch), each retried while the inventory is unavailable, and the per-volume answers
//! counted into the statistics and reported to the observer.

use crate::observer::Observer;
use crate::scope::diff::PendingChange;
use crate::scope::new_ids::NewIds;
use crate::stats::RunStats;
use crate::target::retry::{with_retry, RetryPolicy};
use crate::target::{Target, TargetError};
use tapesync_model::{ApplyBatch, ApplyResponse, ScopeKey, ScopedBatch, VolumeOutcome};

/// Applies changes of one scope in batches.
pub struct Applier<'a> {
    pub target: &'a mut dyn Target,
    pub session: Option<i64>,
    /// Unique per run; batch keys are `<run key>-<sequence>`.
    pub run_key: String,
    pub sequence: u64,
    pub batch_size: usize,
    pub add_new: bool,
    /// What each batch may create besides volumes.
    pub new_ids: NewIds,
    pub retry: RetryPolicy,
    pub dry_run: bool,
    pub source_name: String,
    /// The target answered that it cannot apply groups: batches go one by one from then on.
    pub no_groups: bool,
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
    /// Sends `changes` and records the outcomes (or, for a dry run, reports them).
    pub fn apply(
        &mut self,
        scope: &ScopeKey,
        changes: &[PendingChange],
        stats: &mut RunStats,
        observer: &mut dyn Observer,
    ) -> Result<(), TargetError> {
        if self.dry_run {
            for p in changes {
                observer.would_change(scope, &p.change, p.before.as_ref());
                match p.change.expected_version {
                    Some(_) => stats.statistics.volumes_updated += 1,
                    None => stats.statistics.volumes_added += 1,
                }
            }
            return Ok(());
        }
        let sent = self.send(scope, changes);
        record_outcomes(
            &self.source_name,
            self.batch_size,
            scope,
            changes,
            sent,
            stats,
            observer,
        )
    }

    /// Sends `changes` in batches (retrying each with its own key) and collects the answers;
    /// touches neither the statistics nor the observer, so that it can run on another thread
    /// while the next scope is compared. Each batch is a transaction of its own.
    pub fn send(&mut self, scope: &ScopeKey, changes: &[PendingChange]) -> Sent {
        let mut sents = self.send_batches(&[(scope, changes)], false);
        sents.pop().unwrap_or(Sent {
            batches: 0,
            responses: Vec::new(),
            error: None,
        })
    }

    /// Sends the changes of several scopes (in this order) and returns what each scope's
    /// changes gave: one [`Sent`] per scope, up to the first scope that failed (the later ones
    /// were not applied). Where the target takes groups ([`Target::apply_group`]) the batches
    /// go several at a time, each group in one transaction: one durable commit for all of
    /// them instead of one per batch, which was most of the cost of a night's applies
    /// (docs/benchmarks.md, "Round 7a"). A group applies whole or not at all; a failed group
    /// puts its error on the scope of its first batch.
    pub fn send_group(&mut self, scopes: &[(&ScopeKey, &[PendingChange])]) -> Vec<Sent> {
        let groups = !self.no_groups;
        self.send_batches(scopes, groups)
    }

    /// [`Applier::send`] and [`Applier::send_group`]: the scopes' batches, built once, sent
    /// in groups (where `groups` and the target takes them) or one by one, up to the first
    /// failure.
    fn send_batches(
        &mut self,
        scopes: &[(&ScopeKey, &[PendingChange])],
        groups: bool,
    ) -> Vec<Sent> {
        // The batches in sending order, and the scope (its index in `scopes`) of each.
        let mut flat: Vec<ScopedBatch> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        for (s, (scope, changes)) in scopes.iter().enumerate() {
            for batch in self.batches(scope, changes) {
                flat.push(ScopedBatch {
                    customer: scope.customer.clone(),
                    media: scope.media.clone(),
                    batch,
                });
                owners.push(s);
            }
        }
        let mut answered: Vec<ApplyResponse> = Vec::with_capacity(flat.len());
        // The error that stopped the sending, and whether the target answered the batch it
        // is about (an answer that does not fit its batch still counts as a batch sent).
        let mut stopped: Option<(TargetError, bool)> = None;
        while answered.len() < flat.len() && stopped.is_none() {
            let next = answered.len();
            let end = if groups && !self.no_groups {
                group_end(&flat, next)
            } else {
                next + 1
            };
            if end - next > 1 {
                let group = &flat[next..end];
                let target = &mut *self.target;
                match with_retry(&self.retry, || target.apply_group(group)) {
                    Ok(Some(responses)) if responses.len() == group.len() => {
                        for (response, sent) in responses.into_iter().zip(group) {
                            if let Err(e) = fits(&response, &sent.batch) {
                                stopped = Some((e, true));
                                break;
                            }
                            answered.push(response);
                        }
                    }
                    Ok(Some(responses)) => {
                        stopped = Some((
                            TargetError::Internal(format!(
                                "the inventory answered {} responses for a group of {} batches",
                                responses.len(),
                                group.len()
                            )),
                            false,
                        ))
                    }
                    // An older inventory: the same batches, with the same keys, one by one.
                    Ok(None) => self.no_groups = true,
                    Err(e) => stopped = Some((e, false)),
                }
                continue;
            }
            let (scope, batch) = (scopes[owners[next]].0, &flat[next].batch);
            let target = &mut *self.target;
            match with_retry(&self.retry, || target.apply(scope, batch)) {
                Ok(response) => match fits(&response, batch) {
                    Ok(()) => answered.push(response),
                    Err(e) => stopped = Some((e, true)),
                },
                Err(e) => stopped = Some((e, false)),
            }
        }
        per_scope(scopes.len(), &owners, answered, stopped)
    }

    /// `changes` cut into batches of `--batch-size`, each with a key of its own.
    fn batches(&mut self, scope: &ScopeKey, changes: &[PendingChange]) -> Vec<ApplyBatch> {
        changes
            .chunks(self.batch_size.max(1))
            .map(|chunk| {
                self.sequence += 1;
                ApplyBatch {
                    idempotency_key: format!("{}-{}", self.run_key, self.sequence),
                    session: self.session,
                    create_missing: self.add_new,
                    create: Some(
                        self.new_ids
                            .for_batch(scope, chunk.iter().map(|p| &p.change)),
                    ),
                    changes: chunk.iter().map(|p| p.change.clone()).collect(),
                }
            })
            .collect()
    }
}

/// Whether an answer has one result per change of its batch.
fn fits(response: &ApplyResponse, batch: &ApplyBatch) -> Result<(), TargetError> {
    if response.results.len() == batch.changes.len() {
        Ok(())
    } else {
        Err(TargetError::Internal(format!(
            "the inventory answered {} results for a batch of {} changes",
            response.results.len(),
            batch.changes.len()
        )))
    }
}

/// At most this many changes go in one group (a group's body over HTTP stays a few MB, and
/// well under the inventory's limit of 50,000 changes).
pub const GROUP_CHANGES: usize = 20_000;
/// At most this many batches go in one group (the inventory takes up to 1,000).
pub const GROUP_BATCHES: usize = 500;

/// Where the group that starts at batch `start` ends: as many batches as fit
/// [`GROUP_CHANGES`] and [`GROUP_BATCHES`], and at least one.
fn group_end(flat: &[ScopedBatch], start: usize) -> usize {
    let mut changes = 0;
    let mut end = start;
    while end < flat.len() && end - start < GROUP_BATCHES {
        changes += flat[end].batch.changes.len();
        if changes > GROUP_CHANGES && end > start {
            break;
        }
        end += 1;
    }
    end
}

/// The answers (to the first `answered.len()` batches, whose scopes `owners` names) handed
/// back to the scopes whose batches they answer; the scope of the first unanswered batch gets
/// the error that stopped the sending, and the scopes after it get nothing. Without an error
/// every one of the `scopes` gets its entry (one without changes an empty one).
fn per_scope(
    scopes: usize,
    owners: &[usize],
    answered: Vec<ApplyResponse>,
    mut stopped: Option<(TargetError, bool)>,
) -> Vec<Sent> {
    let empty = || Sent {
        batches: 0,
        responses: Vec::new(),
        error: None,
    };
    let mut all: Vec<Sent> = Vec::with_capacity(scopes);
    let mut answered = answered.into_iter();
    for &s in owners {
        while all.len() <= s {
            all.push(empty());
        }
        let sent = &mut all[s];
        match answered.next() {
            Some(response) => {
                sent.batches += 1;
                sent.responses.push(response);
            }
            None => {
                if let Some((error, was_answered)) = stopped.take() {
                    sent.batches += u64::from(was_answered);
                    sent.error = Some(error);
                }
                return all;
            }
        }
    }
    while all.len() < scopes {
        all.push(empty());
    }
    all
}

/// Counts and reports the outcomes of [`Applier::send`] for `changes` (in its order).
pub fn record_outcomes(
    source_name: &str,
    batch_size: usize,
    scope: &ScopeKey,
    changes: &[PendingChange],
    sent: Sent,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
) -> Result<(), TargetError> {
    stats.statistics.apply_batches += sent.batches;
    for (chunk, response) in changes.chunks(batch_size.max(1)).zip(&sent.responses) {
        stats.statistics.moves.add(&response.moves);
        for (p, result) in chunk.iter().zip(&response.results) {
            match &result.outcome {
                VolumeOutcome::Applied { .. } => stats.statistics.volumes_updated += 1,
                VolumeOutcome::Created { .. } => stats.statistics.volumes_added += 1,
                VolumeOutcome::Conflict { .. } => {
                    stats.note_conflict(scope, &p.change.volume);
                    observer.conflict(source_name, p.line, scope, &p.change.volume);
                }
                VolumeOutcome::Rejected { reason, .. } => {
                    stats.statistics.records_rejected += 1;
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
    use crate::target::embedded::EmbeddedTarget;
    use tapesync_model::{
        CustomerDump, Field, InventoryDump, MediaDump, ScopeSnapshot, ScopeVersions,
        SessionOutcome, SessionStart, SyncStatistics, VolumeChange, VolumeDump,
    };
    use tapesync_store::Store;

    const CUSTOMERS: [&str; 3] = ["C1", "C2", "C3"];

    fn scope(customer: &str) -> ScopeKey {
        ScopeKey {
            customer: customer.into(),
            media: "LTO".into(),
        }
    }

    /// Three customers with one media each and volumes V1..V5.
    fn store() -> Store {
        let mut store = Store::open_in_memory().unwrap();
        let dump = InventoryDump {
            customers: CUSTOMERS
                .iter()
                .map(|c| CustomerDump {
                    id: c.to_string(),
                    name: c.to_string(),
                    media: vec![MediaDump {
                        id: "LTO".into(),
                        description: String::new(),
                    }],
                    repositories: Vec::new(),
                })
                .collect(),
            volumes: CUSTOMERS
                .iter()
                .flat_map(|c| {
                    (1..=5).map(move |v| VolumeDump {
                        customer: c.to_string(),
                        media: "LTO".into(),
                        volume: format!("V{v}"),
                        version: None,
                        fields: Default::default(),
                    })
                })
                .collect(),
        };
        store.import(&dump).unwrap();
        store
    }

    /// How the fake inventory takes a group.
    #[derive(Clone, Copy, PartialEq)]
    enum Groups {
        /// Applies it (batch by batch on one store, which is all-or-none here because
        /// nothing in these tests fails half-way).
        Take,
        /// Answers like an older inventory: it cannot.
        Cannot,
        /// Refuses it; nothing is applied.
        Refuse,
    }

    /// An inventory that records what it was sent.
    struct Recording {
        inner: EmbeddedTarget,
        groups: Groups,
        /// Per call: `None` for a single batch, or the number of batches of a group.
        calls: Vec<Option<usize>>,
        keys: Vec<String>,
    }

    impl Target for Recording {
        fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError> {
            self.inner.begin_session(start)
        }
        fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError> {
            self.inner.download_scope(scope)
        }
        fn scope_versions(&mut self, scopes: &[ScopeKey]) -> Result<ScopeVersions, TargetError> {
            self.inner.scope_versions(scopes)
        }
        fn apply(
            &mut self,
            scope: &ScopeKey,
            batch: &ApplyBatch,
        ) -> Result<ApplyResponse, TargetError> {
            self.calls.push(None);
            self.keys.push(batch.idempotency_key.clone());
            self.inner.apply(scope, batch)
        }
        fn apply_group(
            &mut self,
            batches: &[ScopedBatch],
        ) -> Result<Option<Vec<ApplyResponse>>, TargetError> {
            match self.groups {
                Groups::Cannot => return Ok(None),
                Groups::Refuse => {
                    self.calls.push(Some(batches.len()));
                    return Err(TargetError::Refused("no".into()));
                }
                Groups::Take => {}
            }
            self.calls.push(Some(batches.len()));
            batches
                .iter()
                .map(|b| {
                    self.keys.push(b.batch.idempotency_key.clone());
                    let scope = ScopeKey {
                        customer: b.customer.clone(),
                        media: b.media.clone(),
                    };
                    self.inner.apply(&scope, &b.batch)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        fn scratch_levels(
            &mut self,
            customer: &str,
        ) -> Result<Vec<tapesync_store::ScratchLevel>, TargetError> {
            self.inner.scratch_levels(customer)
        }
        fn finish_session(
            &mut self,
            session: i64,
            outcome: SessionOutcome,
            stats: &SyncStatistics,
        ) -> Result<(), TargetError> {
            self.inner.finish_session(session, outcome, stats)
        }
    }

    /// `count` changes to scope `customer`, setting SLOT on V1, V2, ….
    fn changes(target: &mut Recording, customer: &str, count: usize) -> Vec<PendingChange> {
        let snapshot = target.download_scope(&scope(customer)).unwrap();
        snapshot.volumes[..count]
            .iter()
            .enumerate()
            .map(|(n, v)| PendingChange {
                line: n as u64 + 1,
                change: VolumeChange {
                    volume: v.volume.clone(),
                    expected_version: Some(v.version),
                    set: [(Field::Slot, Some(format!("S{n}")))].into_iter().collect(),
                },
                before: None,
            })
            .collect()
    }

    /// An applier of run "run" that does not retry.
    fn applier(target: &mut Recording, batch_size: usize) -> Applier<'_> {
        Applier {
            target,
            session: None,
            run_key: "run".into(),
            sequence: 0,
            batch_size,
            add_new: false,
            new_ids: NewIds::default(),
            retry: RetryPolicy {
                attempts: 1,
                first_delay: std::time::Duration::ZERO,
            },
            dry_run: false,
            source_name: "report".into(),
            no_groups: false,
        }
    }

    fn send(groups: Groups, batch_size: usize) -> (Vec<Sent>, Recording) {
        let mut target = Recording {
            inner: EmbeddedTarget::new(store(), "tester"),
            groups,
            calls: Vec::new(),
            keys: Vec::new(),
        };
        let pending: Vec<Vec<PendingChange>> = [3, 1, 4]
            .iter()
            .zip(CUSTOMERS)
            .map(|(n, c)| changes(&mut target, c, *n))
            .collect();
        let scopes: Vec<ScopeKey> = CUSTOMERS.iter().map(|c| scope(c)).collect();
        let items: Vec<(&ScopeKey, &[PendingChange])> = scopes
            .iter()
            .zip(&pending)
            .map(|(s, p)| (s, p.as_slice()))
            .collect();
        let sents = {
            let mut applier = applier(&mut target, batch_size);
            let first = applier.send_group(&items);
            assert_eq!(applier.no_groups, groups == Groups::Cannot);
            first
        };
        (sents, target)
    }

    fn slots(target: &mut Recording, customer: &str) -> Vec<Option<String>> {
        let snapshot = target.download_scope(&scope(customer)).unwrap();
        snapshot
            .volumes
            .iter()
            .map(|v| v.fields.get(&Field::Slot).cloned())
            .collect()
    }

    #[test]
    fn the_scopes_batches_go_in_one_group_and_their_answers_back_to_each_scope() {
        let (sents, mut target) = send(Groups::Take, 2);
        // 3 + 1 + 4 changes in batches of 2: 2 + 1 + 2 batches, one group.
        assert_eq!(target.calls, vec![Some(5)]);
        assert_eq!(
            target.keys,
            ["run-1", "run-2", "run-3", "run-4", "run-5"].map(String::from)
        );
        let batches: Vec<u64> = sents.iter().map(|s| s.batches).collect();
        assert_eq!(batches, vec![2, 1, 2]);
        let results: Vec<usize> = sents
            .iter()
            .map(|s| s.responses.iter().map(|r| r.results.len()).sum())
            .collect();
        assert_eq!(results, vec![3, 1, 4]);
        assert!(sents.iter().all(|s| s.error.is_none()));
        assert_eq!(slots(&mut target, "C3")[3], Some("S3".to_string()));
    }

    #[test]
    fn an_inventory_without_groups_gets_the_same_batches_one_by_one() {
        let (sents, mut target) = send(Groups::Cannot, 2);
        assert_eq!(target.calls, vec![None; 5]);
        // The keys the group would have carried: nothing was applied under them before.
        assert_eq!(
            target.keys,
            ["run-1", "run-2", "run-3", "run-4", "run-5"].map(String::from)
        );
        let batches: Vec<u64> = sents.iter().map(|s| s.batches).collect();
        assert_eq!(batches, vec![2, 1, 2]);
        assert_eq!(slots(&mut target, "C1")[2], Some("S2".to_string()));
    }

    #[test]
    fn a_refused_group_fails_its_first_scope_and_applies_nothing() {
        let (sents, mut target) = send(Groups::Refuse, 2);
        assert_eq!(target.calls, vec![Some(5)]);
        assert_eq!(
            sents.len(),
            1,
            "the scopes after the failed one get no answer"
        );
        assert_eq!(sents[0].batches, 0);
        assert!(matches!(sents[0].error, Some(TargetError::Refused(_))));
        for c in CUSTOMERS {
            assert!(slots(&mut target, c).iter().all(Option::is_none));
        }
    }

    #[test]
    fn one_batch_goes_alone() {
        let mut target = Recording {
            inner: EmbeddedTarget::new(store(), "tester"),
            groups: Groups::Take,
            calls: Vec::new(),
            keys: Vec::new(),
        };
        let pending = changes(&mut target, "C2", 2);
        let sents = applier(&mut target, 10).send_group(&[(&scope("C2"), &pending)]);
        assert_eq!(sents[0].batches, 1);
        assert_eq!(target.calls, vec![None]);
    }

    fn batch_of(changes: usize) -> ScopedBatch {
        let change = VolumeChange {
            volume: "V".into(),
            expected_version: None,
            set: Default::default(),
        };
        ScopedBatch {
            customer: "C1".into(),
            media: "LTO".into(),
            batch: ApplyBatch {
                idempotency_key: "k".into(),
                session: None,
                create_missing: false,
                create: None,
                changes: vec![change; changes],
            },
        }
    }

    #[test]
    fn groups_end_at_their_limits_and_hold_at_least_one_batch() {
        let flat: Vec<_> = [9_000, 9_000, 9_000, 30_000, 1].map(batch_of).into();
        assert_eq!(
            group_end(&flat, 0),
            2,
            "a third batch would pass GROUP_CHANGES"
        );
        assert_eq!(group_end(&flat, 2), 3);
        assert_eq!(group_end(&flat, 3), 4, "a batch over the limit goes alone");
        assert_eq!(group_end(&flat, 4), 5);
        let small: Vec<_> = (0..GROUP_BATCHES + 3).map(|_| batch_of(1)).collect();
        assert_eq!(group_end(&small, 0), GROUP_BATCHES);
        assert_eq!(group_end(&small, GROUP_BATCHES), GROUP_BATCHES + 3);
    }
}
