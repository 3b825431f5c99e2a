//! The observer the command line uses: rejections and warnings on standard error (rejections
//! capped, every one counted), dry-run changes on standard output, and progress on standard
//! error when it is a terminal (and nothing of it otherwise): records read in the first pass,
//! then scopes compared against all of them and batches applied, each with a rate in whole
//! numbers, and in the second pass an estimate of the time left.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use tapesync_model::{Field, ScopeKey, VolumeChange};
use tapesync_runtime::observer::describe_change;
use tapesync_runtime::Observer;

/// Rejections printed before the rest are only counted.
pub const DEFAULT_REJECTION_CAP: u64 = 100;

pub struct ConsoleObserver {
    cap: u64,
    rejections: u64,
    progress: Option<ProgressBar>,
    /// Whether the display has switched to the second pass.
    syncing: bool,
}

/// The first pass: records read.
const READ_TEMPLATE: &str = "{spinner} {pos} records read ({rate})";
/// The second pass: scopes compared of all, batches applied (the message), time left.
const SYNC_TEMPLATE: &str = "{bar:30} {pos}/{len} scopes compared ({rate}), {msg}, {eta} left";

/// A rate as a whole number per second (`1234/s`): tenths of records say nothing.
fn whole_rate(per_sec: f64) -> String {
    format!("{}/s", per_sec.round() as u64)
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&whole_rate(state.per_sec()));
            },
        )
}

impl ConsoleObserver {
    pub fn new(cap: u64) -> ConsoleObserver {
        let progress = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(style(READ_TEMPLATE));
            bar
        });
        ConsoleObserver {
            cap,
            rejections: 0,
            progress,
            syncing: false,
        }
    }

    fn line_to_stderr(&self, text: &str) {
        match &self.progress {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Ends the progress display and notes rejections that were not printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if self.rejections > self.cap {
            eprintln!(
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
        let mut out = std::io::stdout().lock();
        for line in describe_change(scope, change, before) {
            let _ = writeln!(out, "{line}");
        }
    }

    fn progress(&mut self, records_read: u64) {
        if let Some(bar) = &self.progress {
            bar.set_position(records_read);
        }
    }

    fn sync_progress(&mut self, compared: u64, scopes: u64, batches: u64) {
        let Some(bar) = &self.progress else {
            return;
        };
        if !self.syncing {
            // A new count with a rate and an estimate of its own: start them afresh.
            self.syncing = true;
            bar.reset();
            bar.set_length(scopes);
            bar.set_style(style(SYNC_TEMPLATE));
        }
        bar.set_message(format!("{batches} batches applied"));
        bar.set_position(compared);
    }

    fn warning(&mut self, message: &str) {
        self.line_to_stderr(&format!("warning: {message}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_numbers() {
        assert_eq!(whole_rate(1234.567), "1235/s");
        assert_eq!(whole_rate(0.2), "0/s");
        assert_eq!(whole_rate(f64::NAN), "0/s");
    }

    #[test]
    fn the_templates_parse() {
        for template in [READ_TEMPLATE, SYNC_TEMPLATE] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }
}
