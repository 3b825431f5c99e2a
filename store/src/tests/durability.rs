//! Durability and concurrency: what a crash, a kill -9, an interrupted transaction or
//! several writers at once leave behind. SQLite's file-level cases are SQLite's own; the rest
//! runs on both backends.

use super::*;

#[test]
fn an_interrupted_transaction_leaves_nothing() {
    on_each(|t| {
        let store = &mut t.store;
        store.add_customer("US01", "").unwrap();
        store.add_media("US01", "LTO", "").unwrap();
        apply_one(
            store,
            "a",
            "k1",
            true,
            change("V1", None, &[(Field::Slot, Some("1"))]),
        )
        .unwrap();
        {
            // Half a batch written by hand, then dropped without commit: as if the process died.
            store.backend.test_execute(
                "BEGIN;
             UPDATE volumes SET slot = 'X', version = 2;
             INSERT INTO audit (actor, at, customer, media, volume, field, new)
             VALUES ('a', 'now', 'US01', 'LTO', 'V1', 'SLOT', 'X');",
            );
        }
        // The connection closes with the transaction open, as if the process died.
        t.store = Store::open_in_memory().unwrap();
        let store = t.reopen();
        let v = store.volume(&scope(), "V1").unwrap().unwrap();
        assert_eq!((v.version, v.fields[&Field::Slot].as_str()), (1, "1"));
        assert_eq!(count(&store, "audit"), 2);
    });
}

/// A copy of the files taken while a big batch is half written is what a `kill -9` leaves
/// behind. Opening it must show the state before the batch: with a tiny page cache SQLite
/// spills uncommitted pages into the WAL, but without a commit frame recovery ignores them.
#[test]
fn files_copied_mid_transaction_recover_to_the_last_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let mut store = Store::open(&path).unwrap();
    store.add_customer("US01", "").unwrap();
    store.add_media("US01", "LTO", "").unwrap();
    apply_one(&mut store, "a", "k1", true, change("V1", None, &[])).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA cache_size = 2").unwrap();
    let tx = rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    for i in 0..5000 {
        tx.execute(
            "INSERT INTO audit (actor, at, customer, media, volume, field, new)
             VALUES ('a', 'now', 'US01', 'LTO', 'V1', 'SLOT', ?1)",
            [format!("{i:0>200}")],
        )
        .unwrap();
    }
    tx.execute("UPDATE volumes SET version = 99", []).unwrap();
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    for suffix in ["", "-wal"] {
        let from = dir.path().join(format!("inv.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, crashed.join(format!("inv.db{suffix}"))).unwrap();
        }
    }
    let wal = std::fs::metadata(crashed.join("inv.db-wal")).unwrap().len();
    assert!(wal > 100_000, "uncommitted pages were spilled to the WAL");
    drop(tx);
    let recovered = Store::open(&crashed.join("inv.db")).unwrap();
    assert_eq!(
        recovered.volume(&scope(), "V1").unwrap().unwrap().version,
        1
    );
    assert_eq!(count(&recovered, "audit"), 1);
}

#[test]
fn a_file_store_checkpoints_in_the_background_and_closes_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let wal = dir.path().join("store.db-wal");
    {
        let mut store = Store::open(&path).unwrap();
        store.add_customer("US01", "Acme").unwrap();
        store.add_media("US01", "LTO", "LTO tapes").unwrap();
        store.add_repository("US01", "LIBR", "Library").unwrap();
        for n in 0..20 {
            let changes = (0..50)
                .map(|v| {
                    let expected = (n > 0).then_some(n);
                    let usage = n.to_string();
                    change(
                        &format!("V{v:04}"),
                        expected,
                        &[
                            (Field::Repository, Some("LIBR")),
                            (Field::UsageCount, Some(&usage)),
                        ],
                    )
                })
                .collect();
            let outcomes = super::outcomes(
                &store
                    .apply("tester", &scope(), &batch(&format!("k{n}"), true, changes))
                    .unwrap(),
            );
            assert!(outcomes.iter().all(|o| matches!(
                o,
                VolumeOutcome::Created { .. } | VolumeOutcome::Applied { .. }
            )));
        }
        // Another connection sees every batch while the checkpoints run.
        let other = Store::open(&path).unwrap();
        let v = other.volume(&scope(), "V0049").unwrap().unwrap();
        assert_eq!(v.version, 20);
        assert_eq!(v.fields[&Field::UsageCount], "19");
    }
    // Closing the last connection copied everything into the file and removed the WAL.
    assert!(!wal.exists());
    let store = Store::open(&path).unwrap();
    assert_eq!(store.download_scope(&scope()).unwrap().volumes.len(), 50);
    assert_eq!(
        store.volume_history(&scope(), "V0000").unwrap().len(),
        4 + 19
    );
}

#[test]
fn two_connections_see_each_others_commits() {
    on_each(|t| {
        let reader = t.reopen();
        let other_reader = t
            .store
            .reader()
            .expect("a file or database has readers")
            .unwrap();
        apply_one(&mut t.store, "a", "k1", true, change("V1", None, &[])).unwrap();
        assert_eq!(reader.download_scope(&scope()).unwrap().volumes.len(), 1);
        assert_eq!(other_reader.download_table(&scope(), &[]).unwrap().len(), 1);
    });
}

#[test]
fn a_store_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
}

#[test]
fn concurrent_writers_never_overwrite_each_other() {
    on_each(|test| {
        let store = &mut test.store;
        apply_one(store, "setup", "setup", true, change("V1", None, &[])).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let location = test.location.clone();
                std::thread::spawn(move || {
                    let mut store = Store::open_location(&location).unwrap();
                    let b = batch(
                        &format!("writer-{t}"),
                        false,
                        vec![change(
                            "V1",
                            Some(1),
                            &[(Field::Slot, Some(&t.to_string()))],
                        )],
                    );
                    store.apply(&format!("w{t}"), &scope(), &b).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<VolumeOutcome> = handles
            .into_iter()
            .map(|h| h.join().unwrap().results[0].outcome.clone())
            .collect();
        let applied = outcomes
            .iter()
            .filter(|o| matches!(o, VolumeOutcome::Applied { version: 2 }))
            .count();
        let conflicts = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    VolumeOutcome::Conflict {
                        current_version: Some(2)
                    }
                )
            })
            .count();
        assert_eq!((applied, conflicts), (1, 3), "{outcomes:?}");
        assert_eq!(store.volume(&scope(), "V1").unwrap().unwrap().version, 2);
    });
}

/// Environment variable that turns [`crash_writer`] into the child of [`kill_9_mid_batch`].
const CRASH_DB: &str = "TAPESYNC_STORE_CRASH_DB";
const CRASH_VOLUMES: usize = 300;

/// The scope the crash test rewrites: [`CRASH_VOLUMES`] volumes at version 1.
fn crash_setup(location: &StoreLocation) {
    let mut store = Store::open_location(location).unwrap();
    let changes = (0..CRASH_VOLUMES)
        .map(|v| change(&format!("V{v:05}"), None, &[]))
        .collect();
    store
        .apply("setup", &scope(), &batch("setup", true, changes))
        .unwrap();
}

/// Applies batches that each rewrite every volume of the scope, printing `acked N` after each
/// commit. As the child of [`kill_9_mid_batch`] it runs until killed; run on its own (with
/// `--ignored`) it applies a few batches to a temporary store and checks them.
#[test]
#[ignore = "the child process of kill_9_mid_batch"]
fn crash_writer() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let (location, rounds) = match std::env::var(CRASH_DB) {
        Ok(l) => (StoreLocation::parse(&l), usize::MAX),
        Err(_) => {
            let location = StoreLocation::File(tmp.path().join("inv.db"));
            crash_setup(&location);
            (location, 3)
        }
    };
    let mut store = Store::open_location(&location).unwrap();
    let mut out = std::io::stdout().lock();
    for round in 0..rounds {
        let changes = (0..CRASH_VOLUMES)
            .map(|v| {
                change(
                    &format!("V{v:05}"),
                    Some(round as u64 + 1),
                    &[(Field::Slot, Some(&round.to_string()))],
                )
            })
            .collect();
        let r = store
            .apply(
                "crash",
                &scope(),
                &batch(&format!("round-{round}"), false, changes),
            )
            .unwrap();
        assert!(r.results.iter().all(|r| r.outcome
            == VolumeOutcome::Applied {
                version: round as u64 + 2
            }));
        writeln!(out, "acked {round}").unwrap();
        out.flush().unwrap();
    }
}

/// `kill -9` of a process in the middle of applying batches: every acknowledged batch is
/// there, and no batch is there in part.
#[test]
fn kill_9_mid_batch() {
    for t in stores() {
        let _named = Backend(t.kind);
        kill_9_mid_batch_on(&t.location);
    }
}

fn kill_9_mid_batch_on(location: &StoreLocation) {
    use std::io::{BufRead, BufReader};
    crash_setup(location);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "tests::durability::crash_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DB, location_text(location))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_acked = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n: u64 = n.trim().parse().unwrap();
            last_acked = Some(n);
            if n >= 15 {
                // SIGKILL: no destructors, no rollback, possibly mid-commit.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    let last_acked = last_acked.expect("the child acknowledged batches");
    let store = Store::open_location(location).unwrap();
    let snap = store.download_scope(&scope()).unwrap();
    assert_eq!(snap.volumes.len(), CRASH_VOLUMES);
    let version = snap.volumes[0].version;
    assert!(
        snap.volumes.iter().all(|v| v.version == version),
        "a batch was applied in part"
    );
    assert!(
        version >= last_acked + 2,
        "acknowledged batch {last_acked} was lost (version {version})"
    );
    let slot = (version - 2).to_string();
    assert!(snap
        .volumes
        .iter()
        .all(|v| v.fields.get(&Field::Slot) == Some(&slot)));
}

fn location_text(location: &StoreLocation) -> String {
    match location {
        StoreLocation::File(p) => p.display().to_string(),
        StoreLocation::Postgres(url) => url.clone(),
    }
}
