//! `--nodes-check`: the aggregate throughput of 8 concurrent syncs of 8 different customers
//! against one PostgreSQL store, through one `tapesync serve` node and through two nodes on
//! the same database (syncs spread over them). Runs alternate between one and two nodes, so
//! a change in the machine's load shifts both alike; medians are reported.

use crate::cases::{read_stats, tail, timed_with_log, Server, PG_RUN_DATABASE};
use crate::dataset::{customer_id, Dataset};
use crate::inventory::{BENCH_PASSWORD, BENCH_USER};
use crate::measure::median;
use crate::postgres::Postgres;
use crate::report_file::{Format, Order};
use crate::workspace::Workspace;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Concurrent syncs, one customer each.
pub const SYNCS: u32 = 8;

pub struct NodesResult {
    pub records: u64,
    pub changed_percent: u32,
    /// Seconds until all syncs finished, per run, for one node and for two.
    pub one_node: Vec<f64>,
    pub two_nodes: Vec<f64>,
}

impl NodesResult {
    fn throughput(&self, samples: &[f64]) -> Option<f64> {
        median(samples).map(|m| self.records as f64 / m)
    }

    pub fn print(&self) {
        let show = |label: &str, samples: &[f64]| {
            println!(
                "{label}: median {:.2} s for {} records in {SYNCS} concurrent syncs → {:.0} records/s (runs: {})",
                median(samples).unwrap_or(f64::NAN),
                self.records,
                self.throughput(samples).unwrap_or(f64::NAN),
                samples
                    .iter()
                    .map(|s| format!("{s:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        show("one node ", &self.one_node);
        show("two nodes", &self.two_nodes);
        if let (Some(one), Some(two)) = (median(&self.one_node), median(&self.two_nodes)) {
            println!("two nodes / one node throughput: {:.2}×", one / two);
        }
    }
}

/// Splits the data set's report into one report per customer of the first `customers` (header
/// kept).
pub fn customer_reports(
    work: &Workspace,
    ds: &Dataset,
    customers: u32,
) -> Result<Vec<PathBuf>, String> {
    let report = work
        .report(ds, Format::Csv, Order::Shuffled)
        .map_err(|e| e.to_string())?;
    let dir = work.runs_dir().join("customers");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let paths: Vec<PathBuf> = (0..customers)
        .map(|c| dir.join(format!("{}-{}.csv", customer_id(c), ds.records)))
        .collect();
    if paths.iter().all(|p| p.exists()) {
        return Ok(paths);
    }
    let mut outs = paths
        .iter()
        .map(|p| std::fs::File::create(p).map(BufWriter::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let input = std::fs::File::open(&report).map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(input).lines();
    let header = lines
        .next()
        .ok_or("empty report")?
        .map_err(|e| e.to_string())?;
    for out in &mut outs {
        writeln!(out, "{header}").map_err(|e| e.to_string())?;
    }
    for line in lines {
        let line = line.map_err(|e| e.to_string())?;
        let customer = line.split(',').next().unwrap_or("");
        if let Some(c) = (0..customers).find(|c| customer_id(*c) == customer) {
            writeln!(outs[c as usize], "{line}").map_err(|e| e.to_string())?;
        }
    }
    for out in &mut outs {
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(paths)
}

/// Runs `tapesync run --no-cache` of every report at once, report `i` against the server at
/// `url_of(i)`, and waits for all; the volumes they updated together.
pub fn concurrent_syncs(
    tapesync: &Path,
    definition: &Path,
    reports: &[PathBuf],
    runs: &Path,
    url_of: impl Fn(usize) -> String,
) -> Result<u64, String> {
    let children = reports
        .iter()
        .enumerate()
        .map(|(i, report)| {
            let log = runs.join(format!("sync-{i}.log"));
            let stats = runs.join(format!("sync-{i}.json"));
            let _ = std::fs::remove_file(&stats);
            let mut cmd = Command::new(tapesync);
            cmd.arg("run")
                .arg("--no-cache")
                .arg("--definition")
                .arg(definition)
                .arg("--input")
                .arg(report)
                .arg("--stats-json")
                .arg(&stats)
                .arg("--server")
                .arg(url_of(i))
                .arg("--user")
                .arg(BENCH_USER)
                .env("TAPESYNC_PASSWORD", BENCH_PASSWORD);
            let handle = {
                let log = log.clone();
                std::thread::spawn(move || timed_with_log(&mut cmd, &log))
            };
            (handle, log, stats)
        })
        .collect::<Vec<_>>();
    let mut updated = 0;
    for (handle, log, stats) in children {
        let run = handle.join().map_err(|_| "a sync thread panicked")??;
        if run.code != Some(0) {
            return Err(format!(
                "a sync exited with {:?}: {}",
                run.code,
                tail(&log, 600)
            ));
        }
        updated += read_stats(&stats)?.get("volumes_updated").unwrap_or(0);
    }
    Ok(updated)
}

/// One measurement: `nodes` servers on a fresh copy of `template`, the 8 syncs spread over
/// them round-robin; the seconds until the last one finished.
fn measure(
    tapesync: &Path,
    work: &Workspace,
    pg: &Postgres,
    template: &str,
    reports: &[PathBuf],
    nodes: usize,
    expected_updates: u64,
) -> Result<f64, String> {
    let url = pg.fresh_copy(template, PG_RUN_DATABASE)?;
    let runs = work.runs_dir();
    let servers = (0..nodes)
        .map(|n| Server::start(tapesync, url.as_ref(), &runs.join(format!("node-{n}.log"))))
        .collect::<Result<Vec<_>, _>>()?;
    let definition = work.definition(Format::Csv).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let updated = concurrent_syncs(tapesync, &definition, reports, &runs, |i| {
        servers[i % nodes].url.clone()
    })?;
    let wall = started.elapsed().as_secs_f64();
    for s in servers {
        s.stop()?;
    }
    if updated != expected_updates {
        return Err(format!(
            "wrong result: {updated} volumes updated, {expected_updates} expected"
        ));
    }
    Ok(wall)
}

/// Runs the comparison: `runs` alternating pairs of one-node and two-node measurements.
pub fn nodes_check(
    tapesync: &Path,
    work: &Workspace,
    pg: &Postgres,
    records: u64,
    changed_percent: u32,
    runs: usize,
) -> Result<NodesResult, String> {
    // Ten scopes per customer: 8 customers.
    let ds = Dataset::new(records, SYNCS * 10)?;
    let reports = customer_reports(work, &ds, SYNCS)?;
    let template = pg.baseline(&ds, changed_percent)?;
    let expected = ds.expected_updates(changed_percent);
    let mut result = NodesResult {
        records,
        changed_percent,
        one_node: Vec::new(),
        two_nodes: Vec::new(),
    };
    for run in 0..runs.max(1) {
        // Alternate which goes first, so neither always follows the other.
        let order: [usize; 2] = if run % 2 == 0 { [1, 2] } else { [2, 1] };
        for nodes in order {
            let wall = measure(tapesync, work, pg, &template, &reports, nodes, expected)?;
            eprintln!("  {nodes} node(s): {wall:.2} s");
            if nodes == 1 {
                result.one_node.push(wall);
            } else {
                result.two_nodes.push(wall);
            }
        }
    }
    pg.drop_database(PG_RUN_DATABASE);
    Ok(result)
}
