//! The apply path of the benchmark's target case, in isolation: a file-backed inventory of
//! `--volumes` (1M) volumes in `--scopes` (50) scopes, `--changed` (1) % of them stale in two
//! fields (DESCRIPTION and USAGECOUNT), synced by one batch per scope inside a sync session —
//! the store calls `tapesync run` makes for that case, without reading a report.
//!
//! The data set is the one `tapesync-bench` generates (same volume ids, scopes, values and
//! "changed" draw), so `--base` may name a baseline store the harness built
//! (`base-g1-schema1-r1000000-s50-c1.db` in its work directory). Without `--base` the
//! baseline is built once through `Store::import` into `--work` and reused.
//!
//! Every run copies the baseline afresh (and fsyncs the copy), opens it, begins a session,
//! and per scope downloads the scope (untimed, as a sync does before it applies) and applies
//! its batch (timed); then finishes the session and closes the store (both timed: closing
//! checkpoints the WAL, a cost every real run pays). Medians over `--runs` runs.
//!
//! With `--group N` (N > 1) the batches go to the store N at a time through
//! `Store::apply_group` — one transaction and one commit per group, as a run that applies
//! what has queued up does — each group's scopes downloaded (untimed) before it is applied;
//! the per-call figures are then per group. `--one-by-one` keeps that order (N downloads,
//! then N batches) but applies the N batches with `Store::apply`, one commit each: the fair
//! other side of an A/B of groups.
//!
//! With `--no-download` no scope is downloaded between the applies: the batches or groups go
//! back to back, as in a warm run whose scopes all come from its cache (the WAL then only
//! grows, since each transaction begins before the checkpoint of the one before is done).
//!
//! Options: `--volumes N` `--scopes N` `--changed PERCENT` `--runs N` `--base PATH`
//! `--work DIR` `--group N` `--one-by-one` `--no-download`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tapesync_model::{
    ApplyBatch, CustomerDump, Field, InventoryDump, MediaDump, RepositoryInfo, ScopeKey,
    ScopedBatch, SessionOutcome, SessionStart, SyncStatistics, VolumeChange, VolumeDump,
    VolumeOutcome,
};
use tapesync_store::Store;

type Error = Box<dyn std::error::Error>;

/// Must match `tapesync-bench`'s generator (bench/src/dataset.rs) so its stores can be reused.
const MEDIA_PER_CUSTOMER: u32 = 10;
const CHANGED_SALT: u64 = 0x0C4A_4E6E_D5EE_D001;
const POOLS: [&str; 4] = [
    "Weekly-Full",
    "Monthly-Full",
    "Daily-Incr",
    "Yearly-Archive",
];
const STALE_POOL: &str = "Old-Pool";
const IMPORT_CHUNK: u64 = 100_000;

struct Options {
    volumes: u64,
    scopes: u32,
    changed: u32,
    runs: usize,
    base: Option<PathBuf>,
    work: PathBuf,
    /// Batches per `Store::apply_group` call; 1: `Store::apply` per batch.
    group: usize,
    /// Each group's batches through `Store::apply`, one by one (see the module comment).
    one_by_one: bool,
    /// No scope downloads between the applies: the batches (or groups) go back to back, as
    /// in a warm run whose scopes all come from its cache.
    no_download: bool,
}

fn options(mut args: impl Iterator<Item = String>) -> Result<Options, Error> {
    let mut o = Options {
        volumes: 1_000_000,
        scopes: 50,
        changed: 1,
        runs: 5,
        base: None,
        work: std::env::temp_dir().join("tapesync-store-bench"),
        group: 1,
        one_by_one: false,
        no_download: false,
    };
    while let Some(flag) = args.next() {
        if flag == "--one-by-one" {
            o.one_by_one = true;
            continue;
        }
        if flag == "--no-download" {
            o.no_download = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--volumes" => o.volumes = value.parse()?,
            "--scopes" => o.scopes = value.parse()?,
            "--changed" => o.changed = value.parse()?,
            "--runs" => o.runs = value.parse()?,
            "--base" => o.base = Some(value.into()),
            "--work" => o.work = value.into(),
            "--group" => o.group = value.parse::<usize>()?.max(1),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if o.volumes == 0 || o.scopes == 0 || u64::from(o.scopes) > o.volumes || o.runs == 0 {
        return Err("need volumes ≥ scopes ≥ 1 and runs ≥ 1".into());
    }
    Ok(o)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn is_changed(r: u64, percent: u32) -> bool {
    mix(r ^ CHANGED_SALT) % 1000 < u64::from(percent) * 10
}

fn scope_of(o: &Options, r: u64) -> u32 {
    (u128::from(r) * u128::from(o.scopes) / u128::from(o.volumes)) as u32
}

fn scope_key(s: u32) -> ScopeKey {
    ScopeKey {
        customer: format!("C{:03}", s / MEDIA_PER_CUSTOMER),
        media: format!("M{}", s % MEDIA_PER_CUSTOMER),
    }
}

/// What the inventory holds for volume `r` (stale pool and mount count when changed).
fn inventory_fields(r: u64, percent: u32) -> BTreeMap<Field, String> {
    let changed = is_changed(r, percent);
    let in_library = !r.is_multiple_of(3);
    let mut fields = BTreeMap::new();
    fields.insert(
        Field::Repository,
        if in_library { "LIBR" } else { "OFFS" }.to_string(),
    );
    if in_library {
        fields.insert(Field::Slot, (r % 500 + 1).to_string());
    }
    let pool = if changed {
        STALE_POOL
    } else {
        POOLS[(r % 4) as usize]
    };
    fields.insert(Field::Description, pool.to_string());
    fields.insert(Field::Scratch, r.is_multiple_of(7).to_string());
    fields.insert(
        Field::ExpiryDate,
        format!(
            "{}-{:02}-{:02}",
            2027 + (r / 336) % 5,
            (r / 28) % 12 + 1,
            r % 28 + 1
        ),
    );
    let mounts = r % 2000 + u64::from(changed);
    fields.insert(Field::UsageCount, mounts.to_string());
    fields
}

fn build_base(o: &Options, path: &Path) -> Result<(), Error> {
    let started = Instant::now();
    let partial = path.with_extension("partial");
    remove_store(&partial)?;
    let mut store = Store::open(&partial)?;
    let mut customers: Vec<CustomerDump> = Vec::new();
    for s in 0..o.scopes {
        let key = scope_key(s);
        if customers.last().map(|c| &c.id) != Some(&key.customer) {
            customers.push(CustomerDump {
                id: key.customer.clone(),
                name: format!("Benchmark customer {}", s / MEDIA_PER_CUSTOMER),
                media: Vec::new(),
                repositories: ["LIBR", "OFFS"]
                    .iter()
                    .map(|id| RepositoryInfo {
                        id: (*id).into(),
                        description: String::new(),
                    })
                    .collect(),
            });
        }
        if let Some(c) = customers.last_mut() {
            c.media.push(MediaDump {
                id: key.media,
                description: "LTO cartridge".into(),
            });
        }
    }
    store.import(&InventoryDump {
        customers,
        volumes: Vec::new(),
    })?;
    let mut start = 0;
    while start < o.volumes {
        let end = (start + IMPORT_CHUNK).min(o.volumes);
        let volumes = (start..end)
            .map(|r| {
                let key = scope_key(scope_of(o, r));
                VolumeDump {
                    customer: key.customer,
                    media: key.media,
                    volume: format!("V{r:07}"),
                    version: None,
                    fields: inventory_fields(r, o.changed),
                }
            })
            .collect();
        store.import(&InventoryDump {
            customers: Vec::new(),
            volumes,
        })?;
        start = end;
    }
    // Closing checkpoints the WAL into the file, so the one file is the whole baseline.
    drop(store);
    std::fs::rename(&partial, path)?;
    eprintln!(
        "built {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

fn remove_store(path: &Path) -> Result<(), Error> {
    for suffix in ["", "-wal", "-shm"] {
        let p = with_suffix(path, suffix);
        if p.exists() {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Copies the baseline and writes the copy out, so the run's first fsync does not pay for it.
fn fresh_copy(base: &Path, to: &Path) -> Result<(), Error> {
    remove_store(to)?;
    std::fs::copy(base, to)?;
    std::fs::File::open(to)?.sync_all()?;
    Ok(())
}

/// One batch per scope: the changed volumes get the report's pool and mount count back.
fn batches(o: &Options) -> Vec<(ScopeKey, Vec<VolumeChange>)> {
    let mut out: Vec<(ScopeKey, Vec<VolumeChange>)> =
        (0..o.scopes).map(|s| (scope_key(s), Vec::new())).collect();
    for r in (0..o.volumes).filter(|r| is_changed(*r, o.changed)) {
        out[scope_of(o, r) as usize].1.push(VolumeChange {
            volume: format!("V{r:07}"),
            expected_version: Some(1),
            set: BTreeMap::from([
                (
                    Field::Description,
                    Some(POOLS[(r % 4) as usize].to_string()),
                ),
                (Field::UsageCount, Some((r % 2000).to_string())),
            ]),
        });
    }
    out.retain(|(_, changes)| !changes.is_empty());
    out
}

/// CPU time this thread has used, in ms (Linux `schedstat`; `None` elsewhere). Wall time on a
/// shared machine is noisy; CPU time separates what the code costs from waiting on fsync.
fn thread_cpu_ms() -> Option<f64> {
    // The kernel brings a running thread's total up to date only at a tick or a reschedule;
    // yielding forces the update, so the figure is exact rather than up to a tick behind.
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e6)
}

struct RunFigures {
    wal_mb: f64,
    apply_ms: Vec<f64>,
    apply_cpu_ms: f64,
    /// Apply, finish and close.
    total_cpu_ms: f64,
    finish_ms: f64,
    close_ms: f64,
}

fn one_run(
    run_db: &Path,
    batches: &[(ScopeKey, Vec<VolumeChange>)],
    n: usize,
    o: &Options,
) -> Result<RunFigures, Error> {
    let group = o.group;
    let mut store = Store::open(run_db)?;
    let session = store.begin_session(
        "bench",
        &SessionStart {
            definition_hash: "0".repeat(64),
            definition_name: "store_bench".into(),
            source_name: "store_bench".into(),
        },
    )?;
    let mut apply_ms = Vec::with_capacity(batches.len());
    let mut apply_cpu_ms = 0.0;
    let mut finish_close_cpu_ms = 0.0;
    let mut updated = 0u64;
    for (g, chunk) in batches.chunks(group).enumerate() {
        let mut scoped = Vec::with_capacity(chunk.len());
        for (i, (scope, changes)) in chunk.iter().enumerate() {
            if !o.no_download {
                store.download_scope(scope)?;
            }
            scoped.push(ScopedBatch {
                customer: scope.customer.clone(),
                media: scope.media.clone(),
                batch: ApplyBatch {
                    idempotency_key: format!("run{n}-{}", g * group + i),
                    session: Some(session),
                    create_missing: false,
                    create: None,
                    changes: changes.clone(),
                },
            });
        }
        let mut responses = Vec::with_capacity(scoped.len());
        if group == 1 || o.one_by_one {
            for b in &scoped {
                let scope = ScopeKey {
                    customer: b.customer.clone(),
                    media: b.media.clone(),
                };
                let cpu = thread_cpu_ms();
                let t = Instant::now();
                responses.push(store.apply("bench", &scope, &b.batch)?);
                apply_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if let (Some(before), Some(after)) = (cpu, thread_cpu_ms()) {
                    apply_cpu_ms += after - before;
                }
            }
        } else {
            let cpu = thread_cpu_ms();
            let t = Instant::now();
            responses = store.apply_group("bench", &scoped)?;
            apply_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if let (Some(before), Some(after)) = (cpu, thread_cpu_ms()) {
                apply_cpu_ms += after - before;
            }
        }
        for result in responses.iter().flat_map(|r| &r.results) {
            match result.outcome {
                VolumeOutcome::Applied { version: 2 } => updated += 1,
                ref other => {
                    return Err(format!("{}: unexpected outcome {other:?}", result.volume).into())
                }
            }
        }
    }
    // How big the write-ahead log has grown: with checkpoints held back this is every frame
    // the batches wrote, the figure the apply path's I/O is proportional to.
    let wal_mb = std::fs::metadata(with_suffix(run_db, "-wal"))
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0);
    let cpu = thread_cpu_ms();
    let t = Instant::now();
    store.finish_session(
        session,
        SessionOutcome::Completed,
        &SyncStatistics {
            volumes_updated: updated,
            ..SyncStatistics::default()
        },
    )?;
    let finish_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    drop(store);
    let close_ms = t.elapsed().as_secs_f64() * 1000.0;
    if let (Some(before), Some(after)) = (cpu, thread_cpu_ms()) {
        finish_close_cpu_ms = after - before;
    }
    Ok(RunFigures {
        wal_mb,
        apply_ms,
        total_cpu_ms: apply_cpu_ms + finish_close_cpu_ms,
        apply_cpu_ms,
        finish_ms,
        close_ms,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n.is_multiple_of(2) {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    } else {
        values[n / 2]
    }
}

pub fn run(args: impl Iterator<Item = String>) -> Result<(), Error> {
    let o = options(args)?;
    std::fs::create_dir_all(&o.work)?;
    let base = match &o.base {
        Some(path) => path.clone(),
        None => {
            let path = o.work.join(format!(
                "base-r{}-s{}-c{}.db",
                o.volumes, o.scopes, o.changed
            ));
            if !path.exists() {
                build_base(&o, &path)?;
            }
            path
        }
    };
    let batches = batches(&o);
    let changes: usize = batches.iter().map(|(_, c)| c.len()).sum();
    println!(
        "{} volumes, {} scopes, {} changed volumes (2 fields each) in {} batches, {} per {}; base {}",
        o.volumes,
        o.scopes,
        changes,
        batches.len(),
        o.group,
        if o.one_by_one { "download round, applied one by one" } else { "apply call" },
        base.display()
    );
    let run_db = o.work.join("run.db");
    let (mut totals, mut per_batch, mut cpus, mut finishes, mut closes) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut overall, mut overall_cpu) = (vec![], vec![]);
    for n in 0..o.runs {
        fresh_copy(&base, &run_db)?;
        let mut f = one_run(&run_db, &batches, n, &o)?;
        let total: f64 = f.apply_ms.iter().sum();
        let batch_median = median(&mut f.apply_ms);
        let slowest = f.apply_ms.last().copied().unwrap_or(0.0);
        println!(
            "run {}: apply {total:.1} ms total ({:.1} ms CPU), {batch_median:.2} ms per apply call (median; slowest {slowest:.1} ms), finish_session {:.1} ms, close {:.1} ms; apply+finish+close {:.1} ms ({:.1} ms CPU); WAL {:.1} MB",
            n + 1,
            f.apply_cpu_ms,
            f.finish_ms,
            f.close_ms,
            total + f.finish_ms + f.close_ms,
            f.total_cpu_ms,
            f.wal_mb
        );
        overall.push(total + f.finish_ms + f.close_ms);
        overall_cpu.push(f.total_cpu_ms);
        totals.push(total);
        per_batch.push(batch_median);
        cpus.push(f.apply_cpu_ms);
        finishes.push(f.finish_ms);
        closes.push(f.close_ms);
    }
    remove_store(&run_db)?;
    println!(
        "median of {} runs: apply {:.1} ms total ({:.1} ms CPU), {:.2} ms per apply call, finish_session {:.1} ms, close {:.1} ms; apply+finish+close {:.1} ms ({:.1} ms CPU)",
        o.runs,
        median(&mut totals),
        median(&mut cpus),
        median(&mut per_batch),
        median(&mut finishes),
        median(&mut closes),
        median(&mut overall),
        median(&mut overall_cpu)
    );
    Ok(())
}
