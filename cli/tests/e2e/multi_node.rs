//! Several `tapesync serve` nodes on one PostgreSQL store, and the faults a deployment must
//! survive: a node killed mid-sync, the database restarted mid-sync, a database that cannot be
//! reached, one of a newer schema, and a whole inventory moved between backends.
//!
//! Real processes on loopback; each test has a PostgreSQL schema of its own (or, to restart
//! the database, a PostgreSQL server of its own). Skipped with one line when no test database
//! is configured; a failure under `CI=true`.

use crate::common;

use crate::server_support::{admin, client, export, get, logon, post, Server, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tapesync_store::testing::{PrivateCluster, TestDatabase};

use crate::server_support::CSV_DEFINITION as DEFINITION;

const VOLUMES: usize = 20_000;
const BATCH: usize = 250;

/// Customer ACME (media LTO, repositories LIBR and OFFS) with `volumes` volumes in slot OLD,
/// the administrator `root` and alice (write on ACME), in the store `store`.
fn prepare(store: &str, volumes: usize) {
    admin(
        store,
        &["user", "add", "root", "--admin"],
        Some(ADMIN_PASSWORD),
    );
    admin(store, &["customer", "add", "ACME", "Acme"], None);
    admin(store, &["media", "add", "ACME", "LTO"], None);
    admin(
        store,
        &["repository", "add", "ACME", "LIBR", "Library"],
        None,
    );
    admin(store, &["repository", "add", "ACME", "OFFS", "Vault"], None);
    admin(store, &["user", "add", "alice"], Some("alice pw"));
    admin(store, &["grant", "alice", "ACME", "write"], None);
    if volumes > 0 {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump.json");
        let entries: Vec<Value> = (0..volumes)
            .map(|i| {
                json!({"customer": "ACME", "media": "LTO", "volume": format!("K{i:06}"),
                       "fields": {"REPOSITORY": "LIBR", "SLOT": "OLD"}})
            })
            .collect();
        std::fs::write(&dump, json!({ "volumes": entries }).to_string()).unwrap();
        admin(store, &["import", dump.to_str().unwrap()], None);
    }
}

/// A definition and a report in `dir` that set every volume's slot to `{prefix}{i}`.
fn write_sync(dir: &Path, name: &str, prefix: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("sync.ttidef"), DEFINITION).unwrap();
    let mut text = String::new();
    for i in 0..VOLUMES {
        let repository = if i % 7 == 0 { "OFFS" } else { "LIBR" };
        text.push_str(&format!("ACME,LTO,K{i:06},{repository},{prefix}{i}\n"));
    }
    let report = dir.join(name);
    std::fs::write(&report, text).unwrap();
    report
}

/// `tapesync run` of `report` as alice through the server at `url`.
fn sync(dir: &Path, report: &Path, url: &str, stats: &Path) -> Command {
    let mut cmd = sync_to(dir, report, &["--server", url, "--user", "alice"], stats);
    cmd.env("TAPESYNC_PASSWORD", "alice pw");
    cmd
}

/// `tapesync run` of `report` with the store opened in-process (`--store`).
fn sync_in_process(dir: &Path, report: &Path, store: &str, stats: &Path) -> Command {
    sync_to(dir, report, &["--store", store], stats)
}

/// `tapesync run` of `report` against `target` (the flags naming the inventory).
fn sync_to(dir: &Path, report: &Path, target: &[&str], stats: &Path) -> Command {
    let mut cmd = common::command();
    cmd.arg("run")
        .arg("-d")
        .arg(dir.join("sync.ttidef"))
        .arg("--input")
        .arg(report)
        .args(target)
        .arg("--batch-size")
        .arg(BATCH.to_string())
        .arg("--stats-json")
        .arg(stats)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn stats(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("stats written")).unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scope() -> tapesync_model::ScopeKey {
    tapesync_model::ScopeKey {
        customer: "ACME".into(),
        media: "LTO".into(),
    }
}

/// Every volume of ACME/LTO: (version, slot).
fn volumes(store: &str) -> Vec<(u64, String)> {
    let location = tapesync_store::StoreLocation::parse(store);
    let store = tapesync_store::Store::open_location(&location).unwrap();
    store
        .download_scope(&scope())
        .unwrap()
        .volumes
        .into_iter()
        .map(|v| {
            let slot = v.fields.get(&tapesync_model::Field::Slot).cloned();
            (v.version, slot.unwrap_or_default())
        })
        .collect()
}

fn apply_batch(key: &str, volume: &str, expected: Option<u64>, slot: &str) -> Value {
    json!({"idempotency_key": key, "session": null, "create_missing": false,
           "changes": [{"volume": volume, "expected_version": expected, "set": {"SLOT": slot}}]})
}

const APPLY: &str = "/api/v1/customers/ACME/media/LTO/volumes:apply";

#[test]
fn two_nodes_on_one_database_behave_as_one_server() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    prepare(db.url(), 3);
    let a = Server::start(db.url(), 0);
    let b = Server::start(db.url(), 0);
    let (a_url, b_url) = (a.url(), b.url());

    // A token issued by one node is accepted by the other.
    let token = logon(&a_url, "alice", "alice pw");
    let (status, customers) = get(&b_url, "/api/v1/customers", &token);
    assert_eq!(status, 200, "{customers}");
    assert_eq!(customers[0]["id"], "ACME");

    // A batch sent to A whose answer was lost, retried on B with the same key: applied once.
    let batch = apply_batch("lost-answer", "K000001", Some(1), "MOVED");
    let (status, first) = post(&a_url, APPLY, &token, &batch);
    assert_eq!(status, 200, "{first}");
    let (status, again) = post(&b_url, APPLY, &token, &batch);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["results"], first["results"]);
    let (_, volume) = get(
        &b_url,
        "/api/v1/customers/ACME/media/LTO/volumes/K000001",
        &token,
    );
    assert_eq!(volume["version"], 2);

    // Two clients change one volume through two nodes, both from version 2: one applies, the
    // other is told of a conflict and nothing is overwritten.
    let (_, on_a) = post(
        &a_url,
        APPLY,
        &token,
        &apply_batch("a-1", "K000001", Some(2), "A"),
    );
    let (_, on_b) = post(
        &b_url,
        APPLY,
        &token,
        &apply_batch("b-1", "K000001", Some(2), "B"),
    );
    assert_eq!(on_a["results"][0]["outcome"], "applied", "{on_a}");
    assert_eq!(on_b["results"][0]["outcome"], "conflict", "{on_b}");
    assert_eq!(on_b["results"][0]["current_version"], 3, "{on_b}");
    let (_, volume) = get(
        &a_url,
        "/api/v1/customers/ACME/media/LTO/volumes/K000001",
        &token,
    );
    assert_eq!(
        (volume["version"].clone(), volume["fields"]["SLOT"].clone()),
        (json!(3), json!("A"))
    );

    // The logon throttle counts failures on both nodes together (both see 127.0.0.1).
    let attempt = |url: &str, password: &str| {
        client()
            .post(format!("{url}/api/v1/logon"))
            .json(&json!({"user": "alice", "password": password}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let failures: Vec<u16> = (0..5)
        .map(|i| attempt(if i % 2 == 0 { &a_url } else { &b_url }, "wrong"))
        .collect();
    assert_eq!(failures, [401; 5]);
    assert_eq!(
        attempt(&b_url, "alice pw"),
        429,
        "the fifth failure locked the pair"
    );
    assert_eq!(attempt(&a_url, "alice pw"), 429);
}

/// Two syncs of the same scope through two nodes at once: no update is lost — every applied
/// change was made against the version it was diffed from, the loser's stale changes are
/// conflicts — and re-running converges.
#[test]
fn concurrent_syncs_of_one_scope_through_two_nodes_lose_no_update() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    prepare(db.url(), VOLUMES);
    let dir = tempfile::tempdir().unwrap();
    let first = write_sync(dir.path(), "first.csv", "F");
    let second = write_sync(dir.path(), "second.csv", "S");
    let a = Server::start(db.url(), 0);
    let b = Server::start(db.url(), 0);
    let (stats_a, stats_b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let run_a = sync(dir.path(), &first, &a.url(), &stats_a)
        .spawn()
        .unwrap();
    let run_b = sync(dir.path(), &second, &b.url(), &stats_b)
        .spawn()
        .unwrap();
    let (out_a, out_b) = (
        run_a.wait_with_output().unwrap(),
        run_b.wait_with_output().unwrap(),
    );
    // Conflicts are reported as problems (exit 1); nothing may fail outright.
    for out in [&out_a, &out_b] {
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            describe(out)
        );
    }
    let (sa, sb) = (stats(&stats_a), stats(&stats_b));
    let applied = sa["volumes_updated"].as_u64().unwrap() + sb["volumes_updated"].as_u64().unwrap();
    eprintln!(
        "concurrent syncs: {} + {} updated, {} + {} conflicts",
        sa["volumes_updated"], sb["volumes_updated"], sa["conflicts"], sb["conflicts"]
    );
    // Each applied change raised its volume's version by exactly one.
    let after = volumes(db.url());
    assert_eq!(after.len(), VOLUMES);
    let raised: u64 = after.iter().map(|(version, _)| version - 1).sum();
    assert_eq!(raised, applied, "an update was lost or applied twice");
    // A run that loses a volume to the other leaves it alone; re-running the second report
    // gives every volume its value, and once more changes nothing.
    for expect_changes in [true, false] {
        let stats_path = dir.path().join("again.json");
        let out = sync(dir.path(), &second, &b.url(), &stats_path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let s = stats(&stats_path);
        if !expect_changes {
            assert_eq!(s["volumes_updated"], 0, "{s}");
        }
    }
    assert!(volumes(db.url())
        .iter()
        .enumerate()
        .all(|(i, (_, slot))| *slot == format!("S{i}")));
}

/// `kill -9` of one node in the middle of a sync: the other node keeps serving, no batch is
/// half applied, and the sync re-run through the other node converges.
#[test]
fn killing_one_node_mid_sync_leaves_the_other_serving() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    prepare(db.url(), VOLUMES);
    let dir = tempfile::tempdir().unwrap();
    let report = write_sync(dir.path(), "big.csv", "S");
    let mut a = Server::start(db.url(), 0);
    let b = Server::start(db.url(), 0);
    let token = logon(&b.url(), "alice", "alice pw");
    let stats_path = dir.path().join("stats.json");
    let mut run = sync(dir.path(), &report, &a.url(), &stats_path)
        .spawn()
        .unwrap();
    // Let the sync apply a few batches, then kill its node.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while volumes(db.url()).iter().all(|(v, _)| *v == 1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the sync applied nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill();
    let updated = volumes(db.url()).iter().filter(|(v, _)| *v > 1).count();
    assert_eq!(
        updated % BATCH,
        0,
        "{updated} volumes updated: a half-applied batch"
    );
    // The other node answers meanwhile, reads and writes alike.
    let (status, _) = get(
        &b.url(),
        "/api/v1/customers/ACME/media/LTO/volumes/K000000",
        &token,
    );
    assert_eq!(status, 200);
    let (status, body) = post(
        &b.url(),
        "/api/v1/sync-sessions",
        &token,
        &json!({
        "definition_hash": "00".repeat(32), "definition_name": "x", "source_name": "y"}),
    );
    assert_eq!(status, 201, "{body}");
    // The client of the dead node gives up; the sync through the other node finishes the job.
    let _ = run.kill();
    let _ = run.wait();
    let out = sync(dir.path(), &report, &b.url(), &stats_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let after = volumes(db.url());
    assert!(after
        .iter()
        .enumerate()
        .all(|(i, (version, slot))| *version == 2 && *slot == format!("S{i}")));
}

/// The database restarts in the middle of a sync through the server: requests fail with
/// "try again", the client repeats them (a batch with its idempotency key) and the sync
/// completes with every batch applied exactly once. The same for a sync with the store
/// opened in-process (`run --store URL`).
#[test]
fn a_database_restart_mid_sync_applies_every_batch_exactly_once() {
    let Some(cluster) = PrivateCluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (round, through_server) in [(0, true), (1, false)] {
        let store = cluster.schema(&format!("restart_{round}"));
        prepare(&store, VOLUMES);
        let report = write_sync(dir.path(), "big.csv", "S");
        let stats_path = dir.path().join("stats.json");
        let server = through_server.then(|| Server::start(&store, 0));
        let mut command = match &server {
            Some(s) => sync(dir.path(), &report, &s.url(), &stats_path),
            None => sync_in_process(dir.path(), &report, &store, &stats_path),
        };
        let run = command.spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while volumes(&store).iter().all(|(v, _)| *v == 1) {
            assert!(
                std::time::Instant::now() < deadline,
                "the sync applied nothing"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.restart();
        let out = run.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            describe(&out)
        );
        // Exactly once: every volume is at version 2 with its new slot.
        let after = volumes(&store);
        assert_eq!(after.len(), VOLUMES);
        let wrong: Vec<_> = after
            .iter()
            .enumerate()
            .filter(|(i, (version, slot))| *version != 2 || *slot != format!("S{i}"))
            .take(5)
            .collect();
        assert!(wrong.is_empty(), "round {round}: {wrong:?}");
        drop(server);
    }
}

#[test]
fn an_unreachable_database_is_a_clear_error_and_exit_2() {
    if tapesync_store::testing::postgres_or_skip().is_none() {
        return;
    }
    // Nothing listens on port 1; the password must not be shown.
    let store = "postgres://someone:s3cret@127.0.0.1:1/inventory?connect_timeout=5";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sync.ttidef"), DEFINITION).unwrap();
    std::fs::write(dir.path().join("r.csv"), "ACME,LTO,K000001,LIBR,1\n").unwrap();
    for args in [
        vec!["serve", "--listen", "127.0.0.1:0", "--store", store],
        vec!["admin", "--store", store, "customer", "list"],
        vec![
            "run",
            "-d",
            "sync.ttidef",
            "--input",
            "r.csv",
            "--store",
            store,
        ],
    ] {
        let out = common::command()
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = describe(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains("postgres://someone@127.0.0.1:1/inventory"),
            "{text}"
        );
        assert!(text.contains("cannot connect"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "{text}"
        );
    }
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    admin(db.url(), &["customer", "add", "ACME"], None);
    db.execute("UPDATE tapesync_schema SET version = 99");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sync.ttidef"), DEFINITION).unwrap();
    std::fs::write(dir.path().join("r.csv"), "ACME,LTO,K000001,LIBR,1\n").unwrap();
    for args in [
        vec!["serve", "--listen", "127.0.0.1:0", "--store", db.url()],
        vec!["admin", "--store", db.url(), "export"],
        vec!["admin", "--store", db.url(), "customer", "add", "BETA"],
        vec![
            "run",
            "-d",
            "sync.ttidef",
            "--input",
            "r.csv",
            "--store",
            db.url(),
            "-a",
        ],
    ] {
        let out = common::command()
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = describe(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains("schema version 99"), "{text}");
    }
    // Nothing was changed.
    db.execute(&format!(
        "UPDATE tapesync_schema SET version = {}",
        tapesync_store::SCHEMA_VERSION
    ));
    assert!(!export(db.url()).contains("BETA"));
}

/// `admin --store A export | admin --store B import -` moves a whole inventory from SQLite to
/// PostgreSQL and back; every export along the way is the same.
#[test]
fn an_inventory_moves_between_backends_through_a_pipe() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("from.db").display().to_string();
    prepare(&sqlite, 500);
    // Some history: versions above 1.
    let report = write_sync(dir.path(), "r.csv", "S");
    let mut cmd = common::command();
    cmd.args(["run", "-d"])
        .arg(dir.path().join("sync.ttidef"))
        .arg("--input")
        .arg(&report)
        .args(["--store", &sqlite, "-a"]);
    assert!(cmd.output().unwrap().status.code().is_some());
    let original = export(&sqlite);
    assert!(original.contains("\"version\": 2"));
    let pipe = |from: &str, to: &str| {
        let script = "\"$0\" admin --store \"$1\" export | \"$0\" admin --store \"$2\" import -";
        let out = Command::new("sh")
            .args(["-c", script])
            .arg(common::bin())
            .args([from, to])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    };
    pipe(&sqlite, db.url());
    assert_eq!(export(db.url()), original);
    let back = dir.path().join("back.db").display().to_string();
    pipe(db.url(), &back);
    assert_eq!(export(&back), original);
}
