//! The observer the command line uses: rejections, conflicts and warnings on standard error
//! (rejections and conflicts capped, every one counted), dry-run changes on standard output, and a progress spinner on
//! standard error when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
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
}

impl ConsoleObserver {
    pub fn new(cap: u64) -> ConsoleObserver {
        let mut observer = ConsoleObserver::with_sink(cap, Box::new(|line| eoutln!("{line}")));
        observer.progress = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos} records read ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
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
