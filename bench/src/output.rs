//! The results table on stdout and the JSON document of `--json`.

use crate::cases::{human_count, CaseResult};
use serde::Serialize;

/// Where the figures were taken.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_bytes: u64,
    pub os: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_bytes,
            os: std::env::consts::OS.to_string(),
        }
    }
}

pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn opt_u(v: Option<u64>) -> String {
    v.map_or("-".into(), |x| x.to_string())
}

pub const TABLE_HEADER: &str = "| records | format | scopes | order | changed | target | median s | records/s | floor s | × floor | peak RSS MB | downloads | batches | updated (expected) |";
pub const TABLE_RULE: &str = "|---:|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|";

/// One Markdown table row (so the table pastes into docs/benchmarks.md as is).
pub fn table_row(r: &CaseResult) -> String {
    let c = &r.case;
    let updated = match &r.error {
        Some(e) => format!("ERROR: {}", e.replace('|', "/").replace('\n', " ")),
        None => format!("{} ({})", opt_u(r.volumes_updated), r.expected_updates),
    };
    format!(
        "| {} | {} | {} | {} | {}% | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        human_count(c.records),
        c.format.name(),
        c.scopes,
        c.order.name(),
        c.changed_percent,
        match c.cache {
            crate::cases::CacheMode::Off => c.target.name().to_string(),
            mode => format!("{}, cache {}", c.target.name(), mode.name()),
        },
        opt(r.median_secs, 3),
        r.records_per_sec.map_or("-".into(), |x| format!("{x:.0}")),
        opt(r.floor_secs, 3),
        opt(r.ratio_to_floor, 2),
        if r.peak_rss_bytes > 0 {
            format!("{:.0}", mb(r.peak_rss_bytes))
        } else {
            "-".into()
        },
        match r.scopes_from_cache {
            Some(n) if n > 0 => format!("{} (+{n} from cache)", opt_u(r.scope_downloads)),
            _ => opt_u(r.scope_downloads),
        },
        opt_u(r.apply_batches),
        updated
    )
}

/// One checked target of `--targets-check`.
#[derive(Debug, Clone, Serialize)]
pub struct TargetVerdict {
    pub id: &'static str,
    pub description: &'static str,
    pub limit: String,
    pub measured: String,
    pub pass: bool,
}

#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub generated_by: &'static str,
    pub tapesync: String,
    pub runs_per_case: usize,
    pub machine: Machine,
    pub results: &'a [CaseResult],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_median_secs: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetVerdict>,
}
