//! `--memory-check`: what `tapesync serve` holds in memory under 20 concurrent clients and after
//! they stop (issue #18: "kept ~760 MB after the load ended").
//!
//! One server on a fresh copy of a SQLite inventory (20 customers of 10 media each); 20 clients,
//! one per customer, each a real `tapesync run --no-cache` of that customer's report, started
//! together, for `rounds` rounds (the first applies the stale share, later ones download every
//! scope and find nothing to change). The server's `/proc/PID/status` is sampled every 100 ms:
//! the peak (`VmHWM`), the resident size when the last client finished, and after 5 s and 30 s
//! without requests, split into anonymous memory (the heap: what the allocator keeps) and file
//! pages (the store's pages mapped or cached by SQLite, shared with the page cache).
//!
//! The server inherits this process's environment, so allocator options can be compared by
//! running the bench twice (`MIMALLOC_PURGE_DELAY=… tapesync-bench --memory-check`).

use crate::cases::Server;
use crate::dataset::Dataset;
use crate::inventory;
use crate::nodes::{concurrent_syncs, customer_reports};
use crate::report_file::Format;
use crate::workspace::Workspace;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients, one customer each.
pub const CLIENTS: u32 = 20;
/// Media per customer in the data set (`dataset::MEDIA_PER_CUSTOMER`).
const SCOPES_PER_CUSTOMER: u32 = 10;

/// Resident memory of a process, in bytes, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resident {
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
    /// The peak resident size since the process started.
    pub hwm: u64,
}

impl Resident {
    pub fn of(pid: u32) -> Option<Resident> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |key: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
                .map(|k| k * 1024)
        };
        Some(Resident {
            rss: kib("VmRSS:")?,
            anon: kib("RssAnon:").unwrap_or(0),
            file: kib("RssFile:").unwrap_or(0) + kib("RssShmem:").unwrap_or(0),
            hwm: kib("VmHWM:").unwrap_or(0),
        })
    }

    fn show(&self) -> String {
        format!(
            "{:>6.0} MB (heap and other anonymous {:.0} MB, file pages {:.0} MB)",
            mb(self.rss),
            mb(self.anon),
            mb(self.file)
        )
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub struct MemoryResult {
    pub records: u64,
    pub rounds: usize,
    pub load_secs: f64,
    /// Highest resident size sampled during the load, and the kernel's peak.
    pub peak_sampled: Resident,
    pub hwm: u64,
    pub after_load: Resident,
    pub after_5s: Resident,
    pub after_30s: Resident,
}

impl MemoryResult {
    pub fn print(&self) {
        println!(
            "{CLIENTS} concurrent `tapesync run --no-cache` against one `tapesync serve` (SQLite), \
             {} volumes in {} scopes, {} round(s) in {:.1} s",
            self.records,
            CLIENTS * SCOPES_PER_CUSTOMER,
            self.rounds,
            self.load_secs
        );
        println!(
            "  peak (VmHWM)           {:>6.0} MB",
            mb(self.hwm.max(self.peak_sampled.rss))
        );
        println!("  highest sample         {}", self.peak_sampled.show());
        println!("  when the load ended    {}", self.after_load.show());
        println!("  5 s later              {}", self.after_5s.show());
        println!("  30 s later             {}", self.after_30s.show());
    }
}

/// Samples `pid` every 100 ms until `stop`, keeping the sample with the largest resident size.
fn sampler(pid: u32, stop: Arc<AtomicBool>, peak: Arc<Mutex<Resident>>) {
    while !stop.load(Ordering::Relaxed) {
        if let Some(now) = Resident::of(pid) {
            let mut peak = peak.lock().expect("peak sample");
            if now.rss > peak.rss {
                *peak = now;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn memory_check(
    tapesync: &Path,
    work: &Workspace,
    records: u64,
    changed_percent: u32,
    rounds: usize,
) -> Result<MemoryResult, String> {
    let ds = Dataset::new(records, CLIENTS * SCOPES_PER_CUSTOMER)?;
    let reports = customer_reports(work, &ds, CLIENTS)?;
    let baseline = work.baseline(&ds, changed_percent)?;
    let definition = work.definition(Format::Csv).map_err(|e| e.to_string())?;
    let runs = work.runs_dir();
    let db = runs.join("memory.db");
    inventory::copy_store(&baseline, &db).map_err(|e| e.to_string())?;
    let server = Server::start(tapesync, db.as_os_str(), &runs.join("serve.log"))?;
    let pid = server.child.id();

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(Resident::default()));
    let watcher = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || sampler(pid, stop, peak))
    };
    let started = Instant::now();
    let mut outcome = Ok(());
    for r in 0..rounds.max(1) {
        match concurrent_syncs(tapesync, &definition, &reports, &runs, |_| {
            server.url.clone()
        }) {
            Ok(updated) => {
                let expected = if r == 0 {
                    ds.expected_updates(changed_percent)
                } else {
                    0
                };
                eprintln!("  round {}: {updated} volumes updated", r + 1);
                if updated != expected {
                    outcome = Err(format!(
                        "round {}: {updated} volumes updated, {expected} expected",
                        r + 1
                    ));
                    break;
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let load_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let sample = || Resident::of(pid).ok_or("the server exited");
    let measured = outcome.and_then(|()| {
        let after_load = sample()?;
        std::thread::sleep(Duration::from_secs(5));
        let after_5s = sample()?;
        std::thread::sleep(Duration::from_secs(25));
        let after_30s = sample()?;
        Ok((after_load, after_5s, after_30s))
    });
    let hwm = Resident::of(pid).map(|r| r.hwm).unwrap_or(0);
    server.stop()?;
    inventory::remove_store(&db).map_err(|e| e.to_string())?;
    let (after_load, after_5s, after_30s) = measured?;
    let peak_sampled = *peak.lock().expect("peak sample");
    Ok(MemoryResult {
        records,
        rounds: rounds.max(1),
        load_secs,
        peak_sampled,
        hwm,
        after_load,
        after_5s,
        after_30s,
    })
}
