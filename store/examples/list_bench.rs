//! Measures the web page's volume list (`Store::list_volumes`) on a scope of 100,000 volumes,
//! on SQLite and, given a database, on PostgreSQL.
//!
//! `cargo run --release -p tapesync-store --example list_bench [VOLUMES] [POSTGRES-URL]`
//!
//! The inventory is imported in one transaction (a third of the volumes in OFFS, the rest in
//! LIBR; every other one scratch; every 50th one, 2% of them, with a pending move: it is still in
//! the other repository). Then, five times each, with the median printed: the first
//! page, a page from the middle and the last page (100 volumes, key paging), a page filtered
//! by repository, by scratch state and by pending move (with one and without), a text search, and the whole filtered list of the CSV
//! export. The PostgreSQL run uses a schema of its own (`list_bench_<pid>`), dropped at the end.

use std::time::Instant;
use tapesync_model::{CustomerDump, Field, InventoryDump, MediaDump, RepositoryInfo, VolumeDump};
use tapesync_store::{RepositoryFilter, ScratchFilter, Store, StoreLocation, VolumeListQuery};

const PAGE: usize = 100;
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let volumes: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let postgres = args.next();
    let dump = inventory(volumes);

    let dir = tempfile::tempdir()?;
    let mut sqlite = Store::open(&dir.path().join("list.db"))?;
    measure("SQLite", &mut sqlite, &dump, volumes)?;

    if let Some(url) = postgres {
        let schema = format!("list_bench_{}", std::process::id());
        let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
        admin.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
        let separator = if url.contains('?') { '&' } else { '?' };
        let location = StoreLocation::Postgres(format!(
            "{url}{separator}options=-c%20search_path%3D{schema}"
        ));
        let result = Store::open_location(&location)
            .map_err(Box::<dyn std::error::Error>::from)
            .and_then(|mut store| measure("PostgreSQL", &mut store, &dump, volumes));
        admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))?;
        result?;
    }
    Ok(())
}

fn inventory(volumes: usize) -> InventoryDump {
    InventoryDump {
        customers: vec![CustomerDump {
            id: "US01".into(),
            name: "Bench".into(),
            media: vec![MediaDump {
                id: "LTO".into(),
                description: String::new(),
            }],
            repositories: ["LIBR", "OFFS"]
                .map(|r| RepositoryInfo {
                    id: r.into(),
                    description: String::new(),
                })
                .into(),
        }],
        volumes: (0..volumes)
            .map(|i| {
                let (target, other) = if i.is_multiple_of(3) {
                    ("OFFS", "LIBR")
                } else {
                    ("LIBR", "OFFS")
                };
                let current = if i.is_multiple_of(50) { other } else { target };
                VolumeDump {
                    customer: "US01".into(),
                    media: "LTO".into(),
                    volume: format!("V{i:07}"),
                    version: None,
                    fields: [
                        (Field::Repository, target.to_string()),
                        (Field::CurrentRepository, current.to_string()),
                        (Field::Scratch, i.is_multiple_of(2).to_string()),
                        (Field::Slot, format!("{}", i % 5000)),
                        (Field::Description, format!("volume number {i}")),
                    ]
                    .into(),
                }
            })
            .collect(),
    }
}

fn measure(
    backend: &str,
    store: &mut Store,
    dump: &InventoryDump,
    volumes: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    store.import(dump)?;
    println!(
        "{backend}: imported {volumes} volumes in one scope: {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let page = |after: Option<usize>| VolumeListQuery {
        after: after.map(|i| ("LTO".to_string(), format!("V{i:07}"))),
        limit: Some(PAGE),
        ..VolumeListQuery::default()
    };
    let cases: Vec<(&str, VolumeListQuery)> = vec![
        ("first page", page(None)),
        ("middle page", page(Some(volumes / 2))),
        ("last page", page(Some(volumes.saturating_sub(PAGE / 2)))),
        (
            "repository OFFS, middle page",
            VolumeListQuery {
                repository: Some(RepositoryFilter::In("OFFS".into())),
                ..page(Some(volumes / 2))
            },
        ),
        (
            "scratch, first page",
            VolumeListQuery {
                scratch: Some(ScratchFilter::Scratch),
                ..page(None)
            },
        ),
        (
            "pending move, first page",
            VolumeListQuery {
                pending: Some(true),
                ..page(None)
            },
        ),
        (
            "no pending move, middle page",
            VolumeListQuery {
                pending: Some(false),
                ..page(Some(volumes / 2))
            },
        ),
        (
            "text search \"12345\", first page",
            VolumeListQuery {
                text: Some("12345".into()),
                ..page(None)
            },
        ),
        (
            "whole list of repository OFFS (CSV export)",
            VolumeListQuery {
                repository: Some(RepositoryFilter::In("OFFS".into())),
                ..VolumeListQuery::default()
            },
        ),
    ];
    for (name, query) in cases {
        let mut times = Vec::new();
        let mut shown = (0, 0);
        for _ in 0..RUNS {
            let t = Instant::now();
            let list = store.list_volumes("US01", &query)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            shown = (list.volumes.len(), list.total);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{backend}: {name}: {} of {} volumes, median {:.1} ms (min {:.1}, max {:.1}; {RUNS} runs)",
            shown.0,
            shown.1,
            times[RUNS / 2],
            times[0],
            times[RUNS - 1]
        );
    }
    Ok(())
}
