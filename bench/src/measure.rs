//! Timing a child process end to end, with the peak resident set size of exactly that child
//! (`wait4(2)` returns its `rusage`), and medians over repeated runs.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one child run cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChildRun {
    pub wall: Duration,
    /// Exit code, `None` when a signal ended it.
    pub code: Option<i32>,
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub max_rss_bytes: u64,
}

/// Spawns `cmd` (stdin closed, output wherever `cmd` was told) and waits for it; the clock
/// runs from just before the spawn to the reaping, so start-up is included.
pub fn run_timed(cmd: &mut Command) -> io::Result<ChildRun> {
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn()?;
    let (code, max_rss_bytes) = reap(&child, false)?
        .ok_or_else(|| io::Error::other("child vanished before it could be reaped"))?;
    Ok(ChildRun {
        wall: start.elapsed(),
        code,
        max_rss_bytes,
    })
}

/// Waits for `child` with `wait4` (blocking, or polling once with `nohang`) and returns its
/// exit code and peak RSS; `Ok(None)` when `nohang` and it is still running. After a
/// successful reap, `Child::wait` must not be called on it again.
pub fn reap(child: &Child, nohang: bool) -> io::Result<Option<(Option<i32>, u64)>> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: pid is our own unreaped child; the pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            break;
        }
        if r == 0 {
            return Ok(None);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    // Linux reports ru_maxrss in kilobytes.
    let rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    Ok(Some((code, rss)))
}

/// Asks `child` to stop (SIGTERM, then SIGKILL after `grace`) and reaps it.
pub fn stop(child: &Child, grace: Duration) -> io::Result<(Option<i32>, u64)> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    // SAFETY: signalling our own child, which has not been reaped yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    loop {
        if let Some(done) = reap(child, true)? {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return reap(child, false)?.ok_or_else(|| io::Error::other("child survived SIGKILL"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The median of `values` (mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn times_a_child_and_reads_its_exit_code_and_rss() {
        let run = run_timed(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        assert_eq!(run.code, Some(3));
        assert!(run.max_rss_bytes > 0);
        let run = run_timed(&mut Command::new("true")).unwrap();
        assert_eq!(run.code, Some(0));
    }

    // The child is reaped by `stop` through wait4, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    #[test]
    fn stops_a_running_child() {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let (code, _) = stop(&child, Duration::from_secs(5)).unwrap();
        // Ended by SIGTERM, not by exiting.
        assert_eq!(code, None);
    }
}
