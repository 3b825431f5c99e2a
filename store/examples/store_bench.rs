//! Measures the store's hot paths on a file-backed store.
//!
//! `cargo run --release -p tapesync-store --example store_bench [VOLUMES]` creates volumes in
//! batches of 1,000, updates 1,000 volumes in one batch, and downloads a 100,000-volume scope.
//!
//! `cargo run --release -p tapesync-store --example store_bench -- apply [OPTIONS]` times the
//! apply path of the benchmark's target case (see `docs/benchmarks.md`): an inventory of 1M
//! volumes in 50 scopes of which 1 % are stale in two fields, synced by one batch per scope.
//! See [`apply_bench`] for the options.

use std::collections::BTreeMap;
use std::time::Instant;
use tapesync_model::{ApplyBatch, Field, ScopeKey, VolumeChange};
use tapesync_store::Store;

#[path = "store_bench/apply_bench.rs"]
mod apply_bench;

const BATCH: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let volumes: usize = match args.next() {
        Some(mode) if mode == "apply" => return apply_bench::run(args),
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(&dir.path().join("bench.db"))?;
    let scope = ScopeKey {
        customer: "US01".into(),
        media: "LTO".into(),
    };
    let fields = |i: usize| -> BTreeMap<Field, Option<String>> {
        BTreeMap::from([
            (
                Field::Repository,
                Some(if i.is_multiple_of(3) { "OFFS" } else { "LIBR" }.into()),
            ),
            (Field::Slot, Some(format!("{}", i % 5000))),
            (Field::Scratch, Some(i.is_multiple_of(2).to_string())),
            (Field::Description, Some(format!("volume number {i}"))),
            (Field::ExpiryDate, Some("2027-01-31".into())),
            (Field::WriteTime, Some("2026-11-24T01:02:03".into())),
        ])
    };
    let started = Instant::now();
    let mut slowest = 0f64;
    for (n, chunk) in (0..volumes).collect::<Vec<_>>().chunks(BATCH).enumerate() {
        let batch = ApplyBatch {
            idempotency_key: format!("create-{n}"),
            session: None,
            create_missing: true,
            create: None,
            changes: chunk
                .iter()
                .map(|i| VolumeChange {
                    volume: format!("V{i:08}"),
                    expected_version: None,
                    set: fields(*i),
                })
                .collect(),
        };
        let t = Instant::now();
        store.apply("bench", &scope, &batch)?;
        slowest = slowest.max(t.elapsed().as_secs_f64() * 1000.0);
    }
    let created = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "created {volumes} volumes in batches of {BATCH}: {created:.0} ms total, {:.1} ms per batch (slowest {slowest:.1} ms)",
        created / volumes.div_ceil(BATCH) as f64
    );

    let batch = ApplyBatch {
        idempotency_key: "update".into(),
        session: None,
        create_missing: false,
        create: None,
        changes: (0..BATCH.min(volumes))
            .map(|i| VolumeChange {
                volume: format!("V{i:08}"),
                expected_version: Some(1),
                set: BTreeMap::from([
                    (Field::Repository, Some("OFFS".into())),
                    (Field::Slot, Some("X".into())),
                ]),
            })
            .collect(),
    };
    let t = Instant::now();
    store.apply("bench", &scope, &batch)?;
    println!(
        "applied a batch of {} updates (2 fields each): {:.1} ms",
        batch.changes.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );

    for _ in 0..3 {
        let t = Instant::now();
        let snapshot = store.download_scope(&scope)?;
        println!(
            "downloaded a scope of {} volumes: {:.0} ms",
            snapshot.volumes.len(),
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
    // What a sync that sets REPOSITORY and SLOT downloads instead of the snapshot.
    let columns = [Field::Repository, Field::Slot];
    for _ in 0..3 {
        let t = Instant::now();
        let table = store.download_table(&scope, &columns)?;
        println!(
            "downloaded a scope of {} volumes as a table of 2 columns: {:.0} ms ({} KiB)",
            table.len(),
            t.elapsed().as_secs_f64() * 1000.0,
            table.heap_bytes() / 1024
        );
    }
    // A second connection, as a reader thread opens it.
    let reader = Store::open_reader(&dir.path().join("bench.db"))?;
    let t = Instant::now();
    let table = reader.download_table(&scope, &columns)?;
    println!(
        "downloaded the table on a reader connection: {} volumes, {:.0} ms",
        table.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );

    let t = Instant::now();
    let dump = store.export()?;
    println!(
        "exported {} volumes: {:.0} ms",
        dump.volumes.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let mut copy = Store::open(&dir.path().join("copy.db"))?;
    let t = Instant::now();
    copy.import(&dump)?;
    println!(
        "imported {} volumes into an empty store: {:.0} ms",
        dump.volumes.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
