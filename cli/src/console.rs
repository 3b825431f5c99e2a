//! The observer the command line uses: rejections and warnings on standard error (rejections
//! capped, every one counted), dry-run changes on standard output, and a progress spinner on
//! standard error when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use tapesync_model::{Field, ScopeKey, VolumeChange};
use tapesync_runtime::observer::describe_change;
use tapesync_runtime::Observer;

/// Rejections printed before the rest are only counted.
pub const DEFAULT_REJECTION_CAP: u64 = 100;

pub struct ConsoleObserver {
    cap: u64,
    rejections: u64,
    progress: Option<ProgressBar>,
}

impl ConsoleObserver {
    pub fn new(cap: u64) -> ConsoleObserver {
        let progress = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos} records read ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        ConsoleObserver {
            cap,
            rejections: 0,
            progress,
        }
    }

    fn line_to_stderr(&self, text: &str) {
        match &self.progress {
            Some(bar) => bar.suspend(|| eoutln!("{text}")),
            None => eoutln!("{text}"),
        }
    }

    /// Ends the progress display and notes rejections that were not printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if self.rejections > self.cap {
            eoutln!(
                "… {} more rejected records not shown (all are counted)",
                self.rejections - self.cap
            );
        }
    }
}

impl Observer for ConsoleObserver {
    fn rejected(&mut self, source: &str, line: u64, reason: &str) {
        self.rejections += 1;
        if self.rejections <= self.cap {
            self.line_to_stderr(&format!("{source}:{line}: rejected: {reason}"));
        }
    }

    fn would_change(
        &mut self,
        scope: &ScopeKey,
        change: &VolumeChange,
        before: Option<&BTreeMap<Field, String>>,
    ) {
        for line in describe_change(scope, change, before) {
            crate::outln!("{line}");
        }
    }

    fn progress(&mut self, records_read: u64) {
        if let Some(bar) = &self.progress {
            bar.set_position(records_read);
        }
    }

    fn warning(&mut self, message: &str) {
        self.line_to_stderr(&format!("warning: {message}"));
    }
}
