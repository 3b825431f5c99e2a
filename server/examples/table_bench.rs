//! Measures a 100,000-volume scope download over loopback HTTP: the JSON snapshot and the
//! binary scope table, each uncompressed and gzipped, as the client sees it (request, transfer,
//! decompression, decoding). The server runs in-process on its own tokio runtime, as
//! `tapesync serve` does; on a small machine both ends share the CPU, as they do when server
//! and sync run on one host.
//!
//! `cargo run --release -p tapesync-server --example table_bench [VOLUMES]`

use reqwest::blocking::Client;
use reqwest::header;
use std::collections::BTreeMap;
use std::time::Instant;
use tapesync_model::{ApplyBatch, Field, ScopeKey, ScopeSnapshot, ScopeTable, VolumeChange};
use tapesync_server::{serve, AppState, ServerConfig, StorePool};
use tapesync_store::Store;

const ROUNDS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let volumes: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    seed(&path, volumes)?;

    let state = AppState::new(
        StorePool::open(&path.clone().into(), 2)?,
        ServerConfig::default(),
    );
    let (ready, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("listens on loopback");
            let _ = ready.send(listener.local_addr().expect("address"));
            let _ = serve(listener, state, std::future::pending()).await;
        });
    });
    let base = format!("http://{}/api/v1", address.recv()?);

    // Decompresses what it asked gzip for; `raw` never does (to see the bytes on the wire).
    let client = Client::new();
    let raw = Client::builder().no_gzip().build()?;
    let logon: serde_json::Value = client
        .post(format!("{base}/logon"))
        .json(&serde_json::json!({"user": "admin", "password": "bench"}))
        .send()?
        .json()?;
    let token = logon["token"].as_str().unwrap_or_default().to_string();
    let json_url = format!("{base}/customers/US01/media/LTO/volumes");
    let table_url = format!("{base}/customers/US01/media/LTO/table?columns=REPOSITORY,SLOT");

    for (name, url) in [
        ("JSON snapshot", &json_url),
        ("table (2 columns)", &table_url),
    ] {
        for encoding in ["identity", "gzip"] {
            let wire = raw
                .get(url)
                .bearer_auth(&token)
                .header(header::ACCEPT_ENCODING, encoding)
                .send()?
                .bytes()?
                .len();
            let mut times = Vec::new();
            for _ in 0..ROUNDS {
                let t = Instant::now();
                let bytes = client
                    .get(url)
                    .bearer_auth(&token)
                    .header(header::ACCEPT_ENCODING, encoding)
                    .send()?
                    .error_for_status()?
                    .bytes()?;
                let count = if url == &json_url {
                    serde_json::from_slice::<ScopeSnapshot>(&bytes)?
                        .volumes
                        .len()
                } else {
                    ScopeTable::decode(&bytes)?.len()
                };
                assert_eq!(count, volumes);
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{name}, {encoding}: {} KiB on the wire, best {:.0} ms, median {:.0} ms (of {ROUNDS}, {volumes} volumes, decoded)",
                wire / 1024,
                times[0],
                times[ROUNDS / 2]
            );
        }
    }
    Ok(())
}

/// A store with an `admin` (password `bench`) and `volumes` volumes in US01/LTO.
fn seed(path: &std::path::Path, volumes: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut store = Store::open(path)?;
    store.ensure_admin(Some("bench"))?;
    let scope = ScopeKey {
        customer: "US01".into(),
        media: "LTO".into(),
    };
    let all: Vec<usize> = (0..volumes).collect();
    for (n, chunk) in all.chunks(1000).enumerate() {
        let batch = ApplyBatch {
            idempotency_key: format!("seed-{n}"),
            session: None,
            create_missing: true,
            create: None,
            changes: chunk
                .iter()
                .map(|i| VolumeChange {
                    volume: format!("V{i:08}"),
                    expected_version: None,
                    set: BTreeMap::from([
                        (
                            Field::Repository,
                            Some(if i % 3 == 0 { "OFFS" } else { "LIBR" }.to_string()),
                        ),
                        (Field::Slot, Some(format!("{}", i % 5000))),
                        (Field::Scratch, Some((i % 2 == 0).to_string())),
                        (Field::Description, Some(format!("volume number {i}"))),
                        (Field::ExpiryDate, Some("2027-01-31".to_string())),
                        (Field::WriteTime, Some("2026-11-24T01:02:03".to_string())),
                    ]),
                })
                .collect(),
        };
        store.apply("bench", &scope, &batch)?;
    }
    Ok(())
}
