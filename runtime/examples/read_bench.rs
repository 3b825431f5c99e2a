//! Reading speed of the delimited record source, compared with the `csv` crate reading the
//! same file (the floor the benchmarks in docs/benchmarks.md measure against).
//!
//! ```sh
//! cargo run --release -p tapesync-runtime --example read_bench -- [records] [path] [source|csv]
//! ```
//!
//! Generates (once) a CSV report with the columns of `bench/`'s generator, then times three
//! passes of each reader (or only the one named) and prints the best ns/record.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tapesync_runtime::read::input::{InputSource, OpenInput};
use tapesync_runtime::read::{DelimitedSource, RecordSource, SourceItem};

const POOLS: [&str; 4] = [
    "Weekly-Full",
    "Monthly-Full",
    "Daily-Incr",
    "Yearly-Archive",
];

/// One line shaped like `bench/src/dataset.rs`'s rows (10 scopes).
fn write_row(out: &mut impl Write, r: u64) -> std::io::Result<()> {
    let scope = r % 10;
    let in_library = !r.is_multiple_of(3);
    let slot = if in_library {
        (r % 500 + 1).to_string()
    } else {
        "-".to_string()
    };
    writeln!(
        out,
        "C{:03},M{:03},V{:07},{},{},{},{},{:02}/{:02}/{},{}",
        scope / 2,
        scope % 2,
        r,
        if in_library { "jb01" } else { "vault-3" },
        slot,
        POOLS[(r % 4) as usize],
        if r.is_multiple_of(7) { "YES" } else { "NO" },
        r % 28 + 1,
        (r / 28) % 12 + 1,
        2027 + (r / 336) % 5,
        r % 2000
    )
}

fn generate(path: &Path, records: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(
        out,
        "customer,media,volume,location,slot,pool,scratch,expiry,mounts"
    )?;
    for r in 0..records {
        write_row(&mut out, r)?;
    }
    out.flush()
}

/// Reads every record through [`DelimitedSource`]; returns (records, total element bytes).
fn read_source(path: &Path) -> (u64, usize) {
    let input = OpenInput::open(&InputSource::File(path.to_path_buf())).expect("open the report");
    let mut src = DelimitedSource::new(input.lines(), b',', Some(b'"'));
    let (mut n, mut bytes) = (0u64, 0usize);
    while let Some(item) = src.next_item().expect("read the report") {
        if let SourceItem::Record(r) = item {
            n += 1;
            bytes += r.elements.iter().map(|e| e.len()).sum::<usize>();
        }
    }
    (n, bytes)
}

/// The floor: the `csv` crate reading the same file into one reused `StringRecord`.
fn read_csv(path: &Path) -> (u64, usize) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .expect("open the report");
    let mut record = csv::StringRecord::new();
    let (mut n, mut bytes) = (0u64, 0usize);
    while reader.read_record(&mut record).expect("read the report") {
        n += 1;
        bytes += record.iter().map(str::len).sum::<usize>();
    }
    (n, bytes)
}

/// A reader under test: (records, element bytes) of one pass over the file.
type Reader = fn(&Path) -> (u64, usize);

fn best_of(runs: usize, f: impl Fn() -> (u64, usize)) -> (f64, u64, usize) {
    let mut best = f64::MAX;
    let mut result = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        result = f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, result.0, result.1)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .map(|a| a.parse().expect("records: a whole number"))
        .unwrap_or(1_000_000);
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("tapesync-read-bench-{records}.csv")));
    if !path.exists() {
        generate(&path, records).expect("write the report");
    }
    let only = args.next();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} ({records} records, {:.1} MB)",
        path.display(),
        size as f64 / 1e6
    );
    let readers: [(&str, &str, Reader); 2] = [
        ("source", "DelimitedSource", read_source),
        ("csv", "csv crate", read_csv),
    ];
    for (key, name, f) in readers {
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        let (secs, n, bytes) = best_of(3, || f(&path));
        println!(
            "{name:<16} {secs:>7.3} s  {:>7.1} ns/record  ({n} records, {bytes} element bytes)",
            secs * 1e9 / n.max(1) as f64
        );
    }
}
