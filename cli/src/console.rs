//! The observer the command line uses: rejections, conflicts and warnings on standard error
//! (rejections and conflicts capped, every one counted), dry-run changes on standard output, and
//! progress on standard error when it is a terminal (and nothing of it otherwise): records read
//! in the first pass, then scopes compared against all of them and batches applied, each with a
//! rate in whole numbers, and in the second pass an estimate of the time left.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use tapesync_model::{Field, ScopeKey, VolumeChange};
use tapesync_runtime::observer::{describe_change, describe_conflict};
use tapesync_runtime::Observer;

/// Rejections (and conflicts) printed before the rest are only counted.
pub const DEFAULT_REJECTION_CAP: u64 = 100;

pub struct ConsoleObserver {
    /// Lines printed of each capped kind before the rest are only counted.
    cap: u64,
    rejections: u64,
    conflicts: u64,
    progress: Option<ProgressBar>,
    /// Where a line goes: standard error (tests collect them).
    sink: Box<dyn FnMut(&str)>,
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
        let mut observer = ConsoleObserver::with_sink(cap, Box::new(|line| eoutln!("{line}")));
        observer.progress = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(style(READ_TEMPLATE));
            bar
        });
        observer
    }

    fn with_sink(cap: u64, sink: Box<dyn FnMut(&str)>) -> ConsoleObserver {
        ConsoleObserver {
            cap,
            rejections: 0,
            conflicts: 0,
            progress: None,
            sink,
            syncing: false,
        }
    }

    fn line_to_stderr(&mut self, text: &str) {
        let sink = &mut self.sink;
        match &self.progress {
            Some(bar) => bar.suspend(|| sink(text)),
            None => sink(text),
        }
    }

    /// Ends the progress display and notes rejections that were not printed.
    pub fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if self.rejections > self.cap {
            let text = format!(
                "… {} more rejected records not shown (all are counted)",
                self.rejections - self.cap
            );
            self.line_to_stderr(&text);
        }
        if self.conflicts > self.cap {
            let text = format!(
                "… {} more conflicts not shown (all are counted; the volumes are in --stats-json)",
                self.conflicts - self.cap
            );
            self.line_to_stderr(&text);
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

    fn conflict(&mut self, source: &str, line: u64, scope: &ScopeKey, volume: &str) {
        self.conflicts += 1;
        if self.conflicts <= self.cap {
            let text = describe_conflict(source, line, scope, volume);
            self.line_to_stderr(&format!("warning: {text}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn conflicts_are_capped_like_rejections_and_all_counted() {
        let printed = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&printed);
        let mut observer = ConsoleObserver::with_sink(
            100,
            Box::new(move |line: &str| sink.lock().unwrap().push(line.to_string())),
        );
        let scope = ScopeKey {
            customer: "US01".into(),
            media: "LTO".into(),
        };
        for i in 0..20_000u64 {
            observer.conflict("r.csv", i + 1, &scope, &format!("V{i}"));
        }
        for i in 0..150u64 {
            observer.rejected("r.csv", i + 1, "bad");
        }
        observer.warning("unsorted");
        observer.finish();
        let printed = printed.lock().unwrap();
        let conflicts = printed
            .iter()
            .filter(|l| l.contains(": conflict: "))
            .count();
        let rejections = printed
            .iter()
            .filter(|l| l.contains(": rejected: "))
            .count();
        assert_eq!((conflicts, rejections), (100, 100), "{printed:#?}");
        assert!(printed.contains(&"warning: unsorted".to_string()));
        assert!(printed.contains(
            &"… 19900 more conflicts not shown (all are counted; the volumes are in --stats-json)"
                .to_string()
        ));
        assert!(
            printed.contains(&"… 50 more rejected records not shown (all are counted)".to_string())
        );
        assert_eq!(printed.len(), 203, "{printed:#?}");
    }
}

#[cfg(test)]
mod progress_tests {
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
