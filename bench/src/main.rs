//! `tapesync-bench`: generates reports and inventories of up to millions of volumes, runs the
//! real `tapesync` binary over them (embedded store and HTTP server on loopback), and reports
//! records per second, peak memory, round trips and the ratio to the floor — the time it takes
//! merely to read the same file. See docs/benchmarks.md.

mod cases;
mod dataset;
mod floor;
mod inventory;
mod measure;
mod nodes;
mod output;
mod postgres;
mod prng;
mod report_file;
mod server_memory;
mod workspace;

use cases::{parse_count, CacheMode, Case, CaseResult, Runner, TargetKind};
use clap::Parser;
use output::{mb, Document, Machine, TargetVerdict, TABLE_HEADER, TABLE_RULE};
use report_file::{Format, Order};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use workspace::Workspace;

#[derive(Parser, Debug)]
#[command(
    name = "tapesync-bench",
    about = "Benchmarks tapesync end to end against the time it takes to merely read the input"
)]
struct Cli {
    /// Report sizes in records (e.g. 10k,100k,1m).
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<String>>,
    /// Numbers of scopes (customer × media) the volumes are spread over.
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<u32>>,
    /// Report layouts: csv, fixed.
    #[arg(long, value_delimiter = ',')]
    formats: Option<Vec<String>>,
    /// Record orders: sorted (by scope), shuffled.
    #[arg(long, value_delimiter = ',')]
    order: Option<Vec<String>>,
    /// Percentages of volumes whose inventory entry is stale (0, 1, 10).
    #[arg(long, value_delimiter = ',')]
    changed: Option<Vec<u32>>,
    /// Targets: embedded (the store in-process), http (tapesync serve on loopback), postgres
    /// (tapesync serve over a PostgreSQL store; needs --postgres).
    #[arg(long, value_delimiter = ',')]
    targets: Option<Vec<String>>,
    /// Scope cache modes of the matrix: no-cache (the default), cold, warm, warm-unchanged
    /// (docs/benchmarks.md, "Targets").
    #[arg(long, value_delimiter = ',')]
    cache: Option<Vec<String>>,
    /// Timed runs per case; medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Passed to `tapesync run --batch-size` when given.
    #[arg(long)]
    batch_size: Option<u32>,
    /// The tapesync binary (default: the release binary next to this one, built first when
    /// the bench was started through cargo).
    #[arg(long)]
    tapesync: Option<PathBuf>,
    /// Working directory for generated inputs, baseline stores and run copies.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A small smoke matrix (10k records, 10 scopes, both layouts and orders, 1 % changed,
    /// both targets, one run) unless the matrix options say otherwise.
    #[arg(long)]
    quick: bool,
    /// Run exactly the target cases and print PASS/FAIL per target.
    #[arg(long, conflicts_with = "quick")]
    targets_check: bool,
    /// Only generate the inputs and inventories and measure the floor (no tapesync needed).
    #[arg(long, conflicts_with = "targets_check")]
    floor_only: bool,
    /// PostgreSQL for the `postgres` target and --nodes-check: a URL whose role may create
    /// databases (one template database per data set is kept; each run works on a copy).
    #[arg(
        long,
        value_name = "URL",
        env = "TAPESYNC_BENCH_POSTGRES",
        hide_env_values = true
    )]
    postgres: Option<String>,
    /// Measure 8 concurrent syncs of 8 customers through one node and through two nodes on
    /// one PostgreSQL store (records from --sizes, default 800k; --changed, default 10 %).
    #[arg(long, requires = "postgres", conflicts_with_all = ["targets_check", "floor_only"])]
    nodes_check: bool,
    /// Measure the memory `tapesync serve` holds under 20 concurrent clients and after they
    /// stop (records from --sizes, default 400k; --changed, default 1 %; --rounds).
    #[arg(long, conflicts_with_all = ["targets_check", "floor_only", "nodes_check"])]
    memory_check: bool,
    /// Rounds of the 20 clients in --memory-check.
    #[arg(long, default_value_t = 3, requires = "memory_check")]
    rounds: usize,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tapesync-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// The first of `--sizes` and of `--changed`, for the checks that measure one data set.
fn first_size_and_share(cli: &Cli, records: u64, changed: u32) -> Result<(u64, u32), String> {
    let records = match cli.sizes.as_ref().and_then(|s| s.first()) {
        Some(s) => parse_count(s)?,
        None => records,
    };
    let changed = cli
        .changed
        .as_ref()
        .and_then(|c| c.first().copied())
        .unwrap_or(changed);
    Ok((records, changed))
}

/// Returns whether every case ran correctly (and, with `--targets-check`, every target passed).
fn run(cli: Cli) -> Result<bool, String> {
    let tapesync = if cli.floor_only {
        PathBuf::from("(not run: --floor-only)")
    } else {
        locate_tapesync(cli.tapesync.as_deref())?
    };
    let work_root = cli
        .work
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("tapesync-bench"));
    let work = Workspace::new(&work_root).map_err(|e| format!("{}: {e}", work_root.display()))?;
    let machine = Machine::probe();
    println!(
        "tapesync-bench: {} | {} CPUs ({}) | {:.1} GB RAM | {} run(s) per case, medians | work dir {}",
        tapesync.display(),
        machine.cpus,
        machine.cpu_model,
        machine.memory_bytes as f64 / 1e9,
        cli.runs,
        work_root.display()
    );
    if cli.memory_check {
        let (records, changed) = first_size_and_share(&cli, 400_000, 1)?;
        server_memory::memory_check(&tapesync, &work, records, changed, cli.rounds)?.print();
        return Ok(true);
    }
    if cli.nodes_check {
        let pg = postgres::Postgres::new(cli.postgres.as_deref().unwrap_or_default());
        let (records, changed) = first_size_and_share(&cli, 800_000, 10)?;
        let result = nodes::nodes_check(&tapesync, &work, &pg, records, changed, cli.runs)?;
        println!(
            "{} concurrent syncs of different customers, {} records in all, {} % changed, \
             over HTTP on one PostgreSQL store:",
            nodes::SYNCS,
            result.records,
            result.changed_percent
        );
        result.print();
        return Ok(true);
    }
    let mut runner = Runner::new(tapesync.clone(), &work, cli.runs, cli.batch_size);
    runner.floor_only = cli.floor_only;
    runner.postgres = cli.postgres.as_deref().map(postgres::Postgres::new);
    let (cases, check) = if cli.targets_check {
        (target_cases(), true)
    } else {
        (matrix(&cli)?, false)
    };

    println!("{TABLE_HEADER}");
    println!("{TABLE_RULE}");
    let mut results: Vec<CaseResult> = Vec::new();
    for case in &cases {
        eprintln!("case: {}", case.label());
        let r = runner.run_case(case);
        println!("{}", output::table_row(&r));
        results.push(r);
    }
    let mut all_ok = results.iter().all(|r| r.error.is_none());

    let mut targets = Vec::new();
    let mut check_median = None;
    if check {
        let definition = work
            .big_definition(1000)
            .map_err(|e| format!("writing the 1,000-statement definition: {e}"))?;
        let timed = runner.time_check(&definition);
        if let Ok((m, _)) = &timed {
            check_median = Some(*m);
        }
        targets = verdicts(&results, &timed);
        println!();
        for t in &targets {
            println!(
                "{} ({}) {}: {} (limit {})",
                if t.pass { "PASS" } else { "FAIL" },
                t.id,
                t.description,
                t.measured,
                t.limit
            );
        }
        all_ok &= targets.iter().all(|t| t.pass);
    }

    if let Some(path) = &cli.json {
        let doc = Document {
            generated_by: concat!("tapesync-bench ", env!("CARGO_PKG_VERSION")),
            tapesync: tapesync.display().to_string(),
            runs_per_case: runner.runs,
            machine,
            results: &results,
            check_median_secs: check_median,
            targets,
        };
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(all_ok)
}

/// The four sync cases of the targets: (a)/(c) shuffled and sorted embedded, (b) the
/// same over HTTP, (d) 1,000 scopes for memory.
fn target_cases() -> Vec<Case> {
    let base = Case {
        records: 1_000_000,
        scopes: 50,
        format: Format::Csv,
        order: Order::Shuffled,
        changed_percent: 1,
        target: TargetKind::Embedded,
        cache: CacheMode::Off,
    };
    let http = Case {
        target: TargetKind::Http,
        ..base
    };
    vec![
        base,
        http,
        Case {
            order: Order::Sorted,
            ..base
        },
        Case {
            scopes: 1000,
            ..base
        },
        // The scope cache (issue #13): warm with 1 % changed, warm and unchanged, cold.
        Case {
            cache: CacheMode::Warm,
            ..base
        },
        Case {
            cache: CacheMode::Warm,
            ..http
        },
        Case {
            cache: CacheMode::WarmUnchanged,
            ..base
        },
        Case {
            cache: CacheMode::Cold,
            ..base
        },
        Case {
            cache: CacheMode::WarmUnchanged,
            ..http
        },
        Case {
            cache: CacheMode::Cold,
            ..http
        },
    ]
}

fn find<'r>(results: &'r [CaseResult], case: &Case) -> Option<&'r CaseResult> {
    results
        .iter()
        .find(|r| r.case == *case && r.error.is_none())
}

fn verdicts(results: &[CaseResult], check: &Result<(f64, Vec<f64>), String>) -> Vec<TargetVerdict> {
    let cases = target_cases();
    let (a, b, sorted, d) = (
        find(results, &cases[0]),
        find(results, &cases[1]),
        find(results, &cases[2]),
        find(results, &cases[3]),
    );
    let (warm, warm_http, unchanged, cold, unchanged_http, cold_http) = (
        find(results, &cases[4]),
        find(results, &cases[5]),
        find(results, &cases[6]),
        find(results, &cases[7]),
        find(results, &cases[8]),
        find(results, &cases[9]),
    );
    let ratio = |r: Option<&CaseResult>| r.and_then(|r| r.ratio_to_floor);
    let describe_ratio = |r: Option<&CaseResult>| match r {
        Some(r) => format!(
            "{:.2}× floor ({:.3} s vs floor {:.3} s, {:.0} records/s)",
            r.ratio_to_floor.unwrap_or(f64::NAN),
            r.median_secs.unwrap_or(f64::NAN),
            r.floor_secs.unwrap_or(f64::NAN),
            r.records_per_sec.unwrap_or(f64::NAN)
        ),
        None => "no valid measurement".into(),
    };
    let shuffle_factor = match (
        a.and_then(|r| r.median_secs),
        sorted.and_then(|r| r.median_secs),
    ) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    vec![
        TargetVerdict {
            id: "a",
            description: "1M CSV records, 50 scopes, 1 % changed, shuffled, embedded",
            limit: "≤ 3.0× floor".into(),
            measured: describe_ratio(a),
            pass: ratio(a).is_some_and(|x| x <= 3.0),
        },
        TargetVerdict {
            id: "b",
            description: "the same over HTTP on loopback",
            limit: "≤ 4.0× floor".into(),
            measured: describe_ratio(b),
            pass: ratio(b).is_some_and(|x| x <= 4.0),
        },
        TargetVerdict {
            id: "c",
            description: "shuffled vs sorted input (case a vs its sorted twin)",
            limit: "≤ 1.5×".into(),
            measured: match (shuffle_factor, sorted) {
                (Some(f), Some(s)) => format!(
                    "{f:.2}× ({:.3} s shuffled vs {:.3} s sorted)",
                    a.and_then(|r| r.median_secs).unwrap_or(f64::NAN),
                    s.median_secs.unwrap_or(f64::NAN)
                ),
                _ => "no valid measurement".into(),
            },
            pass: shuffle_factor.is_some_and(|f| f <= 1.5),
        },
        TargetVerdict {
            id: "d",
            description: "peak RSS, 1M records in 1,000 scopes (shuffled, embedded)",
            limit: "< 300 MB".into(),
            measured: d.map_or("no valid measurement".into(), |r| {
                format!("{:.0} MB", mb(r.peak_rss_bytes))
            }),
            pass: d.is_some_and(|r| mb(r.peak_rss_bytes) < 300.0),
        },
        TargetVerdict {
            id: "f",
            description: "case a with a warm scope cache",
            limit: "≤ 3.0× floor".into(),
            measured: describe_ratio(warm),
            pass: ratio(warm).is_some_and(|x| x <= 3.0),
        },
        TargetVerdict {
            id: "g",
            description: "case b (HTTP) with a warm scope cache",
            limit: "≤ 4.0× floor".into(),
            measured: describe_ratio(warm_http),
            pass: ratio(warm_http).is_some_and(|x| x <= 4.0),
        },
        TargetVerdict {
            id: "h",
            description: "the same report again, nothing changed, warm cache, embedded",
            limit: "≤ 2.0× floor".into(),
            measured: describe_ratio(unchanged),
            pass: ratio(unchanged).is_some_and(|x| x <= 2.0),
        },
        TargetVerdict {
            id: "i",
            description: "cold cache vs no cache (case a), embedded",
            limit: "no slower (≤ 1.05×, the noise of a shared machine)".into(),
            measured: match (
                cold.and_then(|r| r.median_secs),
                a.and_then(|r| r.median_secs),
            ) {
                (Some(c), Some(o)) => format!("{:.2}× ({c:.3} s cold vs {o:.3} s without)", c / o),
                _ => "no valid measurement".into(),
            },
            pass: match (
                cold.and_then(|r| r.median_secs),
                a.and_then(|r| r.median_secs),
            ) {
                (Some(c), Some(o)) => c <= o * 1.05,
                _ => false,
            },
        },
        TargetVerdict {
            id: "j",
            description:
                "server work of a warm unchanged sync vs a cold one (HTTP): CPU and bytes written",
            limit: "< 1 % each".into(),
            measured: match (unchanged_http, cold_http) {
                (Some(w), Some(c)) => format!(
                    "CPU {:.3} s vs {:.3} s ({:.2} %), bytes {:.0} vs {:.0} ({:.3} %)",
                    w.server_cpu_secs.unwrap_or(f64::NAN),
                    c.server_cpu_secs.unwrap_or(f64::NAN),
                    100.0 * w.server_cpu_secs.unwrap_or(f64::NAN)
                        / c.server_cpu_secs.unwrap_or(f64::NAN),
                    w.server_bytes_written.unwrap_or(f64::NAN),
                    c.server_bytes_written.unwrap_or(f64::NAN),
                    100.0 * w.server_bytes_written.unwrap_or(f64::NAN)
                        / c.server_bytes_written.unwrap_or(f64::NAN),
                ),
                _ => "no valid measurement".into(),
            },
            pass: match (unchanged_http, cold_http) {
                (Some(w), Some(c)) => matches!(
                    (w.server_cpu_secs, c.server_cpu_secs, w.server_bytes_written, c.server_bytes_written),
                    (Some(wc), Some(cc), Some(wb), Some(cb)) if wc < 0.01 * cc && wb < 0.01 * cb
                ),
                _ => false,
            },
        },
        TargetVerdict {
            id: "e",
            description: "`tapesync check` of a generated 1,000-statement definition",
            limit: "< 20 ms".into(),
            measured: match check {
                Ok((m, samples)) => format!(
                    "{:.1} ms median of {} runs (min {:.1} ms)",
                    m * 1e3,
                    samples.len(),
                    samples.iter().copied().fold(f64::INFINITY, f64::min) * 1e3
                ),
                Err(e) => e.clone(),
            },
            pass: check.as_ref().is_ok_and(|(m, _)| *m < 0.020),
        },
    ]
}

fn matrix(cli: &Cli) -> Result<Vec<Case>, String> {
    let q = cli.quick;
    let pick = |given: &Option<Vec<String>>, quick: &[&str], full: &[&str]| -> Vec<String> {
        given.clone().unwrap_or_else(|| {
            (if q { quick } else { full })
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    };
    let sizes = pick(&cli.sizes, &["10k"], &["10k", "100k", "1m"])
        .iter()
        .map(|s| parse_count(s))
        .collect::<Result<Vec<_>, _>>()?;
    let scopes = cli
        .scopes
        .clone()
        .unwrap_or_else(|| if q { vec![10] } else { vec![1, 10, 1000] });
    let formats = pick(&cli.formats, &["csv", "fixed"], &["csv", "fixed"])
        .iter()
        .map(|s| match s.as_str() {
            "csv" => Ok(Format::Csv),
            "fixed" => Ok(Format::Fixed),
            _ => Err(format!("unknown format `{s}` (csv, fixed)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let orders = pick(&cli.order, &["sorted", "shuffled"], &["sorted", "shuffled"])
        .iter()
        .map(|s| match s.as_str() {
            "sorted" => Ok(Order::Sorted),
            "shuffled" => Ok(Order::Shuffled),
            _ => Err(format!("unknown order `{s}` (sorted, shuffled)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let changed = cli
        .changed
        .clone()
        .unwrap_or_else(|| if q { vec![1] } else { vec![0, 1, 10] });
    if let Some(c) = changed.iter().find(|&&c| c > 100) {
        return Err(format!("--changed {c}: a percentage is at most 100"));
    }
    let targets = pick(&cli.targets, &["embedded", "http"], &["embedded", "http"])
        .iter()
        .map(|s| match s.as_str() {
            "embedded" => Ok(TargetKind::Embedded),
            "http" => Ok(TargetKind::Http),
            "postgres" => Ok(TargetKind::Postgres),
            _ => Err(format!("unknown target `{s}` (embedded, http, postgres)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let caches = cli
        .cache
        .clone()
        .unwrap_or_else(|| vec!["no-cache".to_string()])
        .iter()
        .map(|s| match s.as_str() {
            "no-cache" => Ok(CacheMode::Off),
            "cold" => Ok(CacheMode::Cold),
            "warm" => Ok(CacheMode::Warm),
            "warm-unchanged" => Ok(CacheMode::WarmUnchanged),
            _ => Err(format!(
                "unknown cache mode `{s}` (no-cache, cold, warm, warm-unchanged)"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut cases = Vec::new();
    for &records in &sizes {
        for &s in &scopes {
            if u64::from(s) > records {
                continue;
            }
            for &format in &formats {
                for &order in &orders {
                    for &changed_percent in &changed {
                        for &target in &targets {
                            for &cache in &caches {
                                cases.push(Case {
                                    records,
                                    scopes: s,
                                    format,
                                    order,
                                    changed_percent,
                                    target,
                                    cache,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(cases)
}

/// The `tapesync` binary to time: `--tapesync`, else the release binary beside this one —
/// rebuilt first when we were started by cargo, so a stale binary is never measured.
fn locate_tapesync(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--tapesync {}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("the bench binary has no directory")?;
    let name = format!("tapesync{}", std::env::consts::EXE_SUFFIX);
    let mut candidate = dir.join(&name);
    if let Some(cargo) = std::env::var_os("CARGO") {
        // Started by cargo: the bench lives in <target>/<profile>/; time <target>/release.
        let target_dir = dir.parent().unwrap_or(dir);
        candidate = target_dir.join("release").join(&name);
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--release", "-p", "tapesync", "--manifest-path"])
            .arg(&manifest);
        cmd.env("CARGO_TARGET_DIR", target_dir);
        eprintln!("building the release tapesync binary (cargo build --release -p tapesync)…");
        let status = cmd.status().map_err(|e| format!("running cargo: {e}"))?;
        if !status.success() {
            return Err("`cargo build --release -p tapesync` failed".into());
        }
    }
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release -p tapesync` first or pass --tapesync PATH",
            candidate.display()
        ))
    }
}
