//! One benchmark case — a report of a given size, layout and order against an inventory with
//! a given share of stale volumes, synced through one target — and how it is run and judged.

use crate::dataset::Dataset;
use crate::floor;
use crate::inventory::{self, BENCH_PASSWORD, BENCH_USER};
use crate::measure::{self, median, ChildRun};
use crate::postgres::Postgres;
use crate::report_file::{Format, Order};
use crate::workspace::Workspace;
use serde::Serialize;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Embedded,
    Http,
    /// `tapesync serve` over a PostgreSQL store (a fresh copy of a template database per run).
    Postgres,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Embedded => "embedded",
            TargetKind::Http => "http",
            TargetKind::Postgres => "postgres",
        }
    }
}

/// The database every timed PostgreSQL run works on (a copy of the data set's template).
pub const PG_RUN_DATABASE: &str = "tapesync_bench_run";

/// What the scope cache holds when the timed run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheMode {
    /// `--no-cache`: every scope downloaded, as before the cache existed.
    Off,
    /// An empty cache folder: every scope downloaded, and the entries written.
    Cold,
    /// Entries for every scope at the store's current versions (written by an untimed
    /// `--dry-run` just before, of the night before's report — the one the store matches —
    /// so that the line memo holds last night's lines): nothing is downloaded, the report's
    /// changes are applied and the entries patched.
    Warm,
    /// The same report again after an untimed run applied its changes (that run was the last
    /// writer): nothing is downloaded and nothing changes.
    WarmUnchanged,
}

impl CacheMode {
    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Off => "no-cache",
            CacheMode::Cold => "cold",
            CacheMode::Warm => "warm",
            CacheMode::WarmUnchanged => "warm-unchanged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Case {
    pub records: u64,
    pub scopes: u32,
    pub format: Format,
    pub order: Order,
    pub changed_percent: u32,
    pub target: TargetKind,
    pub cache: CacheMode,
}

impl Case {
    pub fn label(&self) -> String {
        format!(
            "{} {} {} scopes {} {}% {} {}",
            human_count(self.records),
            self.format.name(),
            self.scopes,
            self.order.name(),
            self.changed_percent,
            self.target.name(),
            self.cache.name()
        )
    }
}

/// What a case measured: medians over the runs, and whether the sync did what it must.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: Case,
    pub runs: usize,
    /// Every run's end-to-end seconds, in run order.
    pub samples_secs: Vec<f64>,
    pub median_secs: Option<f64>,
    pub records_per_sec: Option<f64>,
    pub floor_secs: Option<f64>,
    /// Median end-to-end time over median floor time.
    pub ratio_to_floor: Option<f64>,
    /// Largest peak RSS of the sync process over the runs.
    pub peak_rss_bytes: u64,
    /// Largest peak RSS of the server process (HTTP runs).
    pub server_peak_rss_bytes: Option<u64>,
    pub scope_downloads: Option<u64>,
    pub scopes_from_cache: Option<u64>,
    /// Medians over the runs of what the server did during the timed run (HTTP targets):
    /// CPU seconds (user + system, the process's CPU-time clock) and bytes it wrote (`wchar` of
    /// `/proc/PID/io`: its answers, mostly).
    pub server_cpu_secs: Option<f64>,
    pub server_bytes_written: Option<f64>,
    pub apply_batches: Option<u64>,
    pub records_read: Option<u64>,
    pub volumes_updated: Option<u64>,
    pub expected_updates: u64,
    pub grouped_by_scope: Option<bool>,
    /// Why the case is not trustworthy (failed run, wrong result); `None` when it is.
    pub error: Option<String>,
}

pub struct Runner<'a> {
    pub tapesync: PathBuf,
    pub work: &'a Workspace,
    pub runs: usize,
    pub batch_size: Option<u32>,
    /// Generate inputs and measure floors only (no tapesync needed).
    pub floor_only: bool,
    /// The PostgreSQL server of the `postgres` target (`--postgres URL`).
    pub postgres: Option<Postgres>,
    floors: HashMap<PathBuf, Option<f64>>,
}

impl<'a> Runner<'a> {
    pub fn new(
        tapesync: PathBuf,
        work: &'a Workspace,
        runs: usize,
        batch_size: Option<u32>,
    ) -> Self {
        Runner {
            tapesync,
            work,
            runs: runs.max(1),
            batch_size,
            floor_only: false,
            postgres: None,
            floors: HashMap::new(),
        }
    }

    /// Median time to merely read `report` (computed once per file).
    fn floor(&mut self, report: &Path, format: Format) -> Option<f64> {
        if let Some(f) = self.floors.get(report) {
            return *f;
        }
        let read = |p: &Path| match format {
            Format::Csv => floor::read_csv(p),
            Format::Fixed => floor::read_lines(p),
        };
        // One untimed read warms the page cache, as the timed syncs find it warm too.
        let warm = read(report).ok();
        let mut samples = Vec::new();
        for _ in 0..self.runs.max(3) {
            let start = Instant::now();
            if read(report).is_err() {
                break;
            }
            samples.push(start.elapsed().as_secs_f64());
        }
        let f = warm.and(median(&samples));
        self.floors.insert(report.to_path_buf(), f);
        f
    }

    pub fn run_case(&mut self, case: &Case) -> CaseResult {
        let mut result = CaseResult {
            case: *case,
            runs: self.runs,
            samples_secs: Vec::new(),
            median_secs: None,
            records_per_sec: None,
            floor_secs: None,
            ratio_to_floor: None,
            peak_rss_bytes: 0,
            server_peak_rss_bytes: None,
            scope_downloads: None,
            scopes_from_cache: None,
            server_cpu_secs: None,
            server_bytes_written: None,
            apply_batches: None,
            records_read: None,
            volumes_updated: None,
            expected_updates: 0,
            grouped_by_scope: None,
            error: None,
        };
        if let Err(e) = self.fill(case, &mut result) {
            result.error = Some(e);
        }
        result
    }

    fn fill(&mut self, case: &Case, result: &mut CaseResult) -> Result<(), String> {
        let ds = Dataset::new(case.records, case.scopes)?;
        let report = self
            .work
            .report(&ds, case.format, case.order)
            .map_err(|e| format!("generating the report: {e}"))?;
        let report_before = match case.cache {
            CacheMode::Warm => self
                .work
                .report_before(&ds, case.format, case.order, case.changed_percent)
                .map_err(|e| format!("generating the report of the night before: {e}"))?,
            _ => report.clone(),
        };
        let definition = self
            .work
            .definition(case.format)
            .map_err(|e| format!("writing the definition: {e}"))?;
        result.floor_secs = self.floor(&report, case.format);
        if self.floor_only && case.target != TargetKind::Postgres {
            let _ = self.work.baseline(&ds, case.changed_percent)?;
            return Ok(());
        }
        let pg = match case.target {
            TargetKind::Postgres => Some(
                self.postgres
                    .as_ref()
                    .ok_or("the postgres target needs --postgres URL")?,
            ),
            _ => None,
        };
        let (baseline, template) = match pg {
            Some(pg) => (None, Some(pg.baseline(&ds, case.changed_percent)?)),
            None => (Some(self.work.baseline(&ds, case.changed_percent)?), None),
        };
        result.expected_updates = match case.cache {
            CacheMode::WarmUnchanged => 0,
            _ => ds.expected_updates(case.changed_percent),
        };
        if let (Some(pg), Some(template)) = (pg, &template) {
            // The store's size, for sizing a deployment (docs/deployment.md).
            eprintln!(
                "  PostgreSQL inventory {template}: {:.0} MB",
                pg.size(template)? as f64 / 1e6
            );
        }
        if self.floor_only {
            return Ok(());
        }

        let runs_dir = self.work.runs_dir();
        let db = runs_dir.join("run.db");
        let stats_path = runs_dir.join("stats.json");
        let cache_dir = runs_dir.join("scope-cache");
        let mut server_cpu = Vec::new();
        let mut server_bytes = Vec::new();
        for i in 0..self.runs {
            let store: OsString = match (&baseline, &template, pg) {
                (_, Some(template), Some(pg)) => pg.fresh_copy(template, PG_RUN_DATABASE)?.into(),
                (Some(baseline), _, _) => {
                    inventory::copy_store(baseline, &db).map_err(|e| e.to_string())?;
                    db.clone().into_os_string()
                }
                _ => return Err("no baseline store".into()),
            };
            let _ = std::fs::remove_file(&stats_path);
            let _ = std::fs::remove_dir_all(&cache_dir);
            let command = |input: &Path, extra: &[&str], url: Option<&str>| {
                let mut cmd = Command::new(&self.tapesync);
                cmd.arg("run")
                    .arg("--definition")
                    .arg(&definition)
                    .arg("--input")
                    .arg(input)
                    .arg("--stats-json")
                    .arg(&stats_path)
                    .args(extra);
                match case.cache {
                    CacheMode::Off => cmd.arg("--no-cache"),
                    _ => cmd.arg("--cache-dir").arg(&cache_dir),
                };
                if let Some(n) = self.batch_size {
                    cmd.arg("--batch-size").arg(n.to_string());
                }
                match url {
                    None => cmd.arg("--store").arg(&store),
                    Some(url) => cmd
                        .arg("--server")
                        .arg(url)
                        .arg("--user")
                        .arg(BENCH_USER)
                        .env("TAPESYNC_PASSWORD", BENCH_PASSWORD),
                };
                cmd
            };
            let log = runs_dir.join("run.log");
            // The untimed runs before the timed one that leave the cache as the mode says. A
            // warm night follows a night whose report the inventory matched: that report (the
            // changed volumes' lines as the inventory holds them) primes the line memo.
            let before: Vec<(&Path, &[&str])> = match case.cache {
                CacheMode::Off | CacheMode::Cold => Vec::new(),
                CacheMode::Warm => vec![(report_before.as_path(), &["--dry-run"])],
                CacheMode::WarmUnchanged => vec![(&report, &["--dry-run"]), (&report, &[])],
            };
            let run = match case.target {
                TargetKind::Embedded => {
                    for (input, extra) in &before {
                        let input = tonight(&runs_dir, input)?;
                        untimed(&mut command(&input, extra, None), &log)?;
                    }
                    let input = tonight(&runs_dir, &report)?;
                    timed_with_log(&mut command(&input, &[], None), &log)?
                }
                TargetKind::Http | TargetKind::Postgres => {
                    let server =
                        Server::start(&self.tapesync, &store, &runs_dir.join("serve.log"))?;
                    for (input, extra) in &before {
                        let input = tonight(&runs_dir, input)?;
                        untimed(&mut command(&input, extra, Some(&server.url)), &log)?;
                    }
                    let input = tonight(&runs_dir, &report)?;
                    let pid = server.child.id();
                    let (cpu0, bytes0) = (cpu_secs(pid), bytes_written(pid));
                    let run = timed_with_log(&mut command(&input, &[], Some(&server.url)), &log);
                    if let (Some(c0), Some(c1)) = (cpu0, cpu_secs(pid)) {
                        server_cpu.push(c1 - c0);
                    }
                    if let (Some(b0), Some(b1)) = (bytes0, bytes_written(pid)) {
                        server_bytes.push((b1 - b0) as f64);
                    }
                    let server_rss = server.stop()?;
                    let prev = result.server_peak_rss_bytes.unwrap_or(0);
                    result.server_peak_rss_bytes = Some(prev.max(server_rss));
                    run?
                }
            };
            if run.code != Some(0) {
                return Err(format!(
                    "run {} of `tapesync run` exited with {:?}: {}",
                    i + 1,
                    run.code,
                    tail(&log, 600)
                ));
            }
            result.samples_secs.push(run.wall.as_secs_f64());
            result.peak_rss_bytes = result.peak_rss_bytes.max(run.max_rss_bytes);
            let stats = read_stats(&stats_path)?;
            result.scope_downloads = stats.get("scope_downloads");
            result.scopes_from_cache = stats.get("scopes_from_cache");
            result.apply_batches = stats.get("apply_batches");
            result.records_read = stats.get("records_read");
            result.volumes_updated = stats.get("volumes_updated");
            result.grouped_by_scope = stats.flag("grouped_by_scope");
        }
        result.server_cpu_secs = median(&server_cpu);
        result.server_bytes_written = median(&server_bytes);
        result.median_secs = median(&result.samples_secs);
        if let Some(m) = result.median_secs {
            result.records_per_sec = Some(case.records as f64 / m);
            result.ratio_to_floor = result.floor_secs.map(|f| m / f);
        }
        if result.volumes_updated != Some(result.expected_updates) {
            return Err(format!(
                "wrong result: {:?} volumes updated, {} expected",
                result.volumes_updated, result.expected_updates
            ));
        }
        Ok(())
    }

    /// Times `tapesync check FILE` `runs` times (at least 5: it is short); returns the median
    /// seconds and the exit code of the last run.
    pub fn time_check(&self, definition: &Path) -> Result<(f64, Vec<f64>), String> {
        let log = self.work.runs_dir().join("check.log");
        let mut samples = Vec::new();
        for _ in 0..self.runs.max(5) {
            let mut cmd = Command::new(&self.tapesync);
            cmd.arg("check").arg(definition);
            let run = timed_with_log(&mut cmd, &log)?;
            if run.code != Some(0) {
                return Err(format!(
                    "`tapesync check` exited with {:?}: {}",
                    run.code,
                    tail(&log, 600)
                ));
            }
            samples.push(run.wall.as_secs_f64());
        }
        let m = median(&samples).ok_or("no samples")?;
        Ok((m, samples))
    }
}

/// Runs a preparatory `tapesync run` that is not timed; it must succeed.
fn untimed(cmd: &mut Command, log: &Path) -> Result<(), String> {
    let run = timed_with_log(cmd, log)?;
    if run.code != Some(0) {
        return Err(format!(
            "a preparatory `tapesync run` exited with {:?}: {}",
            run.code,
            tail(log, 600)
        ));
    }
    Ok(())
}

/// CPU seconds (user + system) process `pid` has used so far, all its threads together,
/// those that have ended included: the process's CPU-time clock (`clock_getcpuclockid(3)`),
/// counted in nanoseconds. `/proc/PID/stat` counts in ticks of 10 ms, too coarse for the
/// server's share of a warm sync (target (j) asks for under 1 % of about 1 s); that is the
/// fallback when the clock cannot be read.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    process_clock_secs(pid).or_else(|| stat_ticks_secs(pid))
}

fn process_clock_secs(pid: u32) -> Option<f64> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid place for the answer; a process that is gone is an error.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid place for the answer.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return None;
    }
    Some(now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9)
}

/// `utime + stime` of `/proc/PID/stat`, in clock ticks.
fn stat_ticks_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after `) `.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_sec > 0).then(|| ticks as f64 / per_sec as f64)
}

/// Bytes process `pid` has written so far through write calls, sockets included
/// (`wchar` of `/proc/PID/io`).
fn bytes_written(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
}

pub fn timed_with_log(cmd: &mut Command, log: &Path) -> Result<ChildRun, String> {
    let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdout(out).stderr(err);
    measure::run_timed(cmd).map_err(|e| format!("starting {:?}: {e}", cmd.get_program()))
}

/// The last `max` bytes of a log file, for error messages.
pub fn tail(path: &Path, max: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

/// `--stats-json` output, read leniently: the statistics may sit at the top level or under a
/// `statistics` key.
pub struct Stats(serde_json::Value);

impl Stats {
    fn obj(&self) -> &serde_json::Value {
        match self.0.get("statistics") {
            Some(inner) if inner.is_object() => inner,
            _ => &self.0,
        }
    }
    pub fn get(&self, key: &str) -> Option<u64> {
        self.obj().get(key).and_then(serde_json::Value::as_u64)
    }
    fn flag(&self, key: &str) -> Option<bool> {
        self.obj().get(key).and_then(serde_json::Value::as_bool)
    }
}

pub fn read_stats(path: &Path) -> Result<Stats, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading --stats-json output {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map(Stats)
        .map_err(|e| format!("parsing --stats-json output: {e}"))
}

/// A `tapesync serve` on a free loopback port, for one timed run.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Serves `db` (a file or a URL).
    pub fn start(tapesync: &Path, db: &OsStr, log: &Path) -> Result<Server, String> {
        Server::start_with(tapesync, db, log, &[])
    }

    /// [`Server::start`] with extra environment variables for the server (allocator options).
    pub fn start_with(
        tapesync: &Path,
        db: &OsStr,
        log: &Path,
        env: &[(String, String)],
    ) -> Result<Server, String> {
        let mut child = Command::new(tapesync)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("serve")
            .arg("--store")
            .arg(db)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting `tapesync serve`: {e}"))?;
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = match lines.next() {
            Some(Ok(line)) => line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_string),
            _ => None,
        };
        // Keep draining so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let server = Server {
            child,
            url: url.unwrap_or_default(),
        };
        if server.url.is_empty() {
            let _ = server.stop();
            return Err(format!(
                "`tapesync serve` did not print `listening on http://…`: {}",
                tail(log, 600)
            ));
        }
        Ok(server)
    }

    /// Stops the server and returns its peak RSS.
    pub fn stop(self) -> Result<u64, String> {
        measure::stop(&self.child, Duration::from_secs(5))
            .map(|(_, rss)| rss)
            .map_err(|e| format!("stopping the server: {e}"))
    }
}

/// `10k`, `1m`, `250000`.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = t.strip_suffix('k') {
        (d, 1_000)
    } else if let Some(d) = t.strip_suffix('m') {
        (d, 1_000_000)
    } else {
        (t.as_str(), 1)
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{s}` is not a count (e.g. 10k, 1m, 50000)"))
}

pub fn human_count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Puts `report` where every run of a case reads its report (`tonight.<ext>` in the runs
/// folder, a hard link, or a copy where links fail): a nightly job reads the same path every
/// night, and the line memo is kept per input path.
fn tonight(runs_dir: &Path, report: &Path) -> Result<PathBuf, String> {
    let ext = report.extension().and_then(OsStr::to_str).unwrap_or("txt");
    let path = runs_dir.join(format!("tonight.{ext}"));
    let _ = std::fs::remove_file(&path);
    std::fs::hard_link(report, &path)
        .or_else(|_| std::fs::copy(report, &path).map(|_| ()))
        .map_err(|e| format!("linking {} to {}: {e}", report.display(), path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("2500"), Ok(2500));
        assert!(parse_count("0").is_err());
        assert!(parse_count("ten").is_err());
        assert_eq!(human_count(100_000), "100k");
        assert_eq!(human_count(1_000_000), "1M");
        assert_eq!(human_count(1234), "1234");
    }
}
