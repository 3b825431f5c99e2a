use super::*;
use crate::observer::Collector;
use crate::read::input::OpenInput;
use crate::target::embedded::EmbeddedTarget;
use crate::testutil::csv_plan;
use std::collections::BTreeMap;
use std::time::Duration;
use tapesync_model::{
    ApplyBatch, ApplyResponse, CustomerDump, Field, InventoryDump, MediaDump, RepositoryInfo,
    ScopeKey, ScopeSnapshot, SyncStatistics, VolumeChange, VolumeDump,
};
use tapesync_store::Store;

fn inventory() -> InventoryDump {
    InventoryDump {
        customers: vec![CustomerDump {
            id: "US01".into(),
            name: "Example".into(),
            media: vec![MediaDump {
                id: "LTO".into(),
                description: String::new(),
            }],
            repositories: vec![
                RepositoryInfo {
                    id: "LIBR".into(),
                    description: "Main Library".into(),
                },
                RepositoryInfo {
                    id: "OFFS".into(),
                    description: "Offsite Vault".into(),
                },
            ],
        }],
        volumes: ["A1", "A2", "A3"]
            .iter()
            .map(|v| VolumeDump {
                customer: "US01".into(),
                media: "LTO".into(),
                volume: v.to_string(),
                version: None,
                fields: [(Field::Repository, "LIBR".to_string())]
                    .into_iter()
                    .collect(),
            })
            .collect(),
    }
}

fn store() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.import(&inventory()).unwrap();
    s
}

fn options() -> RunOptions {
    RunOptions {
        add_new: false,
        add_new_ids: false,
        dry_run: false,
        strict: false,
        batch_size: 1000,
        limit: None,
        now: chrono::NaiveDate::from_ymd_opt(2026, 6, 15)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        retry: RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(1),
        },
        session: SessionStart {
            definition_hash: "0".into(),
            definition_name: "test.ttidef".into(),
            source_name: "test.csv".into(),
        },
        cache: None,
    }
}

fn lines(text: &str) -> LineReader {
    OpenInput::from_reader(
        "test.csv".into(),
        Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
    )
    .lines()
}

fn repo_plan() -> Plan {
    csv_plan("US01", "LTO", &[(Field::Repository, 2)])
}

fn repositories(store: &Store) -> BTreeMap<String, String> {
    store
        .export()
        .unwrap()
        .volumes
        .into_iter()
        .map(|v| {
            let repo = v
                .fields
                .get(&Field::Repository)
                .cloned()
                .unwrap_or_default();
            (v.volume, repo)
        })
        .collect()
}

/// A target that loses the answer of the first apply after the store committed it.
struct LostAnswer {
    inner: EmbeddedTarget,
    lost: bool,
    keys: Vec<String>,
}

impl Target for LostAnswer {
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError> {
        self.inner.begin_session(start)
    }
    fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError> {
        self.inner.download_scope(scope)
    }
    fn scope_versions(
        &mut self,
        scopes: &[ScopeKey],
    ) -> Result<tapesync_model::ScopeVersions, TargetError> {
        self.inner.scope_versions(scopes)
    }
    fn apply(
        &mut self,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, TargetError> {
        self.keys.push(batch.idempotency_key.clone());
        let answer = self.inner.apply(scope, batch)?;
        if !self.lost {
            self.lost = true;
            return Err(TargetError::Unavailable("connection reset".into()));
        }
        Ok(answer)
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

#[test]
fn retry_reuses_the_key_and_counts_once() {
    let mut target = LostAnswer {
        inner: EmbeddedTarget::new(store(), "tester"),
        lost: false,
        keys: Vec::new(),
    };
    let plan = repo_plan();
    let mut obs = Collector::default();
    let out = run(
        &plan,
        lines("A1,OFFS\nA2,OFFS\nA3,LIBR\n"),
        &mut target,
        &options(),
        &mut obs,
    );
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(target.keys.len(), 2);
    assert_eq!(target.keys[0], target.keys[1]);
    let s = &out.stats.statistics;
    assert_eq!(
        (s.volumes_updated, s.volumes_unchanged, s.apply_batches),
        (2, 1, 1)
    );
    let store = target.inner.into_store();
    assert_eq!(repositories(&store)["A1"], "OFFS");
    let sessions = store.list_sessions(None, 10).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].outcome, SessionOutcome::Completed);
    assert_eq!(sessions[0].statistics.as_ref().unwrap().volumes_updated, 2);
}

#[test]
fn strict_checks_every_scope_before_applying() {
    let mut plan = csv_plan("US01", "LTO", &[(Field::RepositoryDesc, 2)]);
    plan.fields_set.push(Field::Repository);
    let mut target = EmbeddedTarget::new(store(), "tester");
    let mut obs = Collector::default();
    let strict = RunOptions {
        strict: true,
        ..options()
    };
    let out = run(
        &plan,
        lines("A1,Offsite Vault\nA2,Nowhere\n"),
        &mut target,
        &strict,
        &mut obs,
    );
    assert!(
        matches!(out.error, Some(RunError::Strict { line: 2, .. })),
        "{:?}",
        out.error
    );
    assert_eq!(out.stats.statistics.apply_batches, 0);
    assert_eq!(repositories(target.store())["A1"], "LIBR");
    // Without --strict the good record is applied and the bad one rejected.
    let out = run(
        &plan,
        lines("A1,Offsite Vault\nA2,Nowhere\n"),
        &mut target,
        &options(),
        &mut obs,
    );
    assert!(out.error.is_none());
    assert_eq!(out.stats.statistics.records_rejected, 1);
    assert_eq!(repositories(target.store())["A1"], "OFFS");
    assert_eq!(
        obs.rejections,
        ["test.csv:2: rejected: REPOSITORY_DESC `Nowhere` is not the description of any repository of customer US01"]
    );
}

/// A target where someone else changes A1 right after each download.
struct Interloper {
    inner: EmbeddedTarget,
    downloads: u64,
}

impl Target for Interloper {
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError> {
        self.inner.begin_session(start)
    }
    fn scope_versions(
        &mut self,
        scopes: &[ScopeKey],
    ) -> Result<tapesync_model::ScopeVersions, TargetError> {
        self.inner.scope_versions(scopes)
    }
    fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError> {
        let snapshot = self.inner.download_scope(scope)?;
        self.downloads += 1;
        let version = snapshot
            .volumes
            .iter()
            .find(|v| v.volume == "A1")
            .map(|v| v.version);
        self.inner.apply(
            scope,
            &ApplyBatch {
                idempotency_key: format!("interloper-{}", self.downloads),
                session: None,
                create_missing: false,
                create: None,
                changes: vec![VolumeChange {
                    volume: "A1".into(),
                    expected_version: version,
                    set: [(Field::Slot, Some(format!("S{}", self.downloads)))]
                        .into_iter()
                        .collect(),
                }],
            },
        )?;
        Ok(snapshot)
    }
    fn apply(
        &mut self,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, TargetError> {
        self.inner.apply(scope, batch)
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

#[test]
fn stale_versions_are_conflicts() {
    let mut target = Interloper {
        inner: EmbeddedTarget::new(store(), "tester"),
        downloads: 0,
    };
    let mut obs = Collector::default();
    let out = run(
        &repo_plan(),
        lines("A1,OFFS\nA2,OFFS\n"),
        &mut target,
        &options(),
        &mut obs,
    );
    assert!(out.error.is_none());
    assert_eq!(out.stats.statistics.conflicts, 1);
    assert_eq!(out.stats.statistics.volumes_updated, 1);
    assert!(out.stats.has_problems());
    assert_eq!(repositories(target.inner.store())["A1"], "LIBR");
    assert_eq!(obs.warnings.len(), 1);
    // The volume is listed for --stats-json like the other lists.
    assert_eq!(out.stats.in_conflict, ["US01.LTO A1"]);
    let json = serde_json::to_value(&out.stats).unwrap();
    assert_eq!(json["in_conflict"], serde_json::json!(["US01.LTO A1"]));
    assert_eq!(json["conflicts"], 1);
}

#[test]
fn dry_run_writes_nothing_and_records_no_session() {
    let mut target = EmbeddedTarget::new(store(), "tester");
    let before = target.store().export().unwrap();
    let mut obs = Collector::default();
    let dry = RunOptions {
        dry_run: true,
        add_new: true,
        ..options()
    };
    let out = run(
        &repo_plan(),
        lines("A1,OFFS\nB7,LIBR\n"),
        &mut target,
        &dry,
        &mut obs,
    );
    assert!(out.error.is_none());
    assert_eq!(out.session, None);
    assert_eq!(target.store().export().unwrap(), before);
    assert!(target.store().list_sessions(None, 10).unwrap().is_empty());
    assert_eq!(
        obs.changes,
        [
            "US01.LTO A1 REPOSITORY: \"LIBR\" → \"OFFS\"",
            "US01.LTO B7: create (REPOSITORY=\"LIBR\")"
        ]
    );
}

#[test]
fn limit_and_terminate_stop_reading() {
    let mut target = EmbeddedTarget::new(store(), "tester");
    let mut obs = Collector::default();
    let limited = RunOptions {
        limit: Some(1),
        ..options()
    };
    let out = run(
        &repo_plan(),
        lines("A1,OFFS\nA2,OFFS\n"),
        &mut target,
        &limited,
        &mut obs,
    );
    assert_eq!(out.stats.statistics.records_read, 1);
    assert_eq!(repositories(target.store())["A2"], "LIBR");
}

/// Throughput figure for docs/reports: `cargo test --release -p tapesync-runtime -- --ignored
/// --nocapture throughput`. 100,000 generated records over 10 interleaved scopes, into a store
/// file: first run adds everything, second run finds everything unchanged.
#[test]
#[ignore]
fn throughput_100k() {
    let mut text = String::new();
    for i in 0..100_000u32 {
        let s = i % 10;
        text.push_str(&format!(
            "C{},V{:07},S{},{}\n",
            s,
            i,
            i % 97,
            if i % 3 == 0 { "YES" } else { "NO" }
        ));
    }
    let mut plan = csv_plan("X", "LTO", &[(Field::Slot, 3), (Field::Scratch, 4)]);
    plan.literals.retain(|l| l.field != Field::Customer);
    plan.extractions[0].source = tapesync_compiler::plan::ExtractSource::Element { index: 2 };
    plan.extractions.push(tapesync_compiler::plan::Extraction {
        field: Field::Customer,
        source: tapesync_compiler::plan::ExtractSource::Element { index: 1 },
        length: 4,
    });
    let dir = tempfile::tempdir().unwrap();
    let mut target = EmbeddedTarget::open(&dir.path().join("db"), "bench").unwrap();
    let add = RunOptions {
        add_new: true,
        // The customers come from the report.
        add_new_ids: true,
        ..options()
    };
    for (label, opts) in [("add", &add), ("unchanged", &options())] {
        let start = std::time::Instant::now();
        let out = run(
            &plan,
            lines(&text),
            &mut target,
            opts,
            &mut Collector::default(),
        );
        assert!(out.error.is_none(), "{:?}", out.error);
        let secs = start.elapsed().as_secs_f64();
        let s = &out.stats.statistics;
        assert_eq!(s.volumes_added + s.volumes_unchanged, 100_000);
        assert_eq!(s.scope_downloads, 10);
        eprintln!(
            "{label}: 100000 records in {secs:.2} s = {:.0} records/s",
            100_000.0 / secs
        );
    }
}
