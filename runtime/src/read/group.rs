//! Records of several lines (extensions `SetRecordLines`, `SetRecordStart`, `SetRecordIndent`):
//! the body lines of a line-per-record format, after the line rules, grouped into one record
//! each as the plan's [`RecordGrouping`] says.
//!
//! A record is never merged with the next: one that is cut short (by the end of the report, by
//! the next record's first line, or by a header section) when it must have a number of lines
//! is rejected with its line numbers, and a line that can begin no record and continue none is
//! rejected on its own. A line that cannot be read makes its whole record bad.

use super::RawRecord;
use tapesync_compiler::plan::{GroupStart, RecordGrouping};

/// What the grouper gives back.
#[derive(Debug, PartialEq, Eq)]
pub enum Grouped<'a> {
    /// A complete record: its lines, first line first.
    Record(&'a [RawRecord]),
    /// Lines that make no record (rejected, on the first line's number).
    Bad { line: u64, reason: String },
}

/// Collects body lines into records. At most one record is finished by any one line (a
/// record has at least two lines when it has a fixed number), so every call gives back at
/// most one [`Grouped`].
pub struct Grouper<'p> {
    rule: &'p RecordGrouping,
    /// The record being collected: `current[..current_len]` (strings kept for reuse).
    current: Vec<RawRecord>,
    current_len: usize,
    /// The first line of the current record that could not be read: its number and why.
    current_bad: Option<(u64, String)>,
    /// Lines of the current record that could not be read (they hold their place).
    bad_lines: usize,
    /// Line numbers of the current record's first and last lines (bad lines included).
    first_line: u64,
    last_line: u64,
    /// The record given back last, lent out until the next call.
    done: Vec<RawRecord>,
    done_len: usize,
    /// First and last line of the record completed last, until the next one begins.
    last_complete: Option<(u64, u64)>,
}

impl<'p> Grouper<'p> {
    pub fn new(rule: &'p RecordGrouping) -> Grouper<'p> {
        Grouper {
            rule,
            current: Vec::new(),
            current_len: 0,
            current_bad: None,
            bad_lines: 0,
            first_line: 0,
            last_line: 0,
            done: Vec::new(),
            done_len: 0,
            last_complete: None,
        }
    }

    /// Whether a record is being collected.
    pub fn is_open(&self) -> bool {
        self.first_line != 0
    }

    /// Lines in the current record, bad ones included.
    fn lines_held(&self) -> usize {
        self.current_len + self.bad_lines
    }

    fn begins_record(&self, raw: &str) -> bool {
        match &self.rule.start {
            None => !self.is_open(),
            Some(GroupStart::Matching { filter }) => filter.matches(raw.trim()),
            Some(GroupStart::NotIndented) => !raw.starts_with([' ', '\t']),
        }
    }

    /// Whether the current record has all the lines it can have.
    fn is_full(&self) -> bool {
        self.rule.lines.is_some_and(|n| self.lines_held() >= n)
    }

    /// A body line.
    pub fn push(&mut self, record: &RawRecord) -> Option<Grouped<'_>> {
        let begins = self.begins_record(&record.raw);
        if begins && self.is_open() {
            let closed = self.close(&format!("line {} begins the next record", record.line));
            self.start(record.line);
            self.add(record);
            return Some(self.give(closed));
        }
        if !begins && !self.is_open() {
            return Some(Grouped::Bad {
                line: record.line,
                reason: self.orphan(record.line),
            });
        }
        if begins {
            self.start(record.line);
        }
        self.add(record);
        self.complete_if_full()
    }

    /// A line that could not be read: it belongs to the record being collected (it cannot
    /// be told whether it would have begun one), or is rejected on its own.
    pub fn push_bad(&mut self, line: u64, reason: String) -> Option<Grouped<'_>> {
        let fixed_count_only = self.rule.start.is_none();
        if !self.is_open() && fixed_count_only {
            self.start(line);
        } else if !self.is_open() {
            return Some(Grouped::Bad { line, reason });
        }
        self.last_line = line;
        self.bad_lines += 1;
        if self.current_bad.is_none() {
            self.current_bad = Some((line, reason));
        }
        self.complete_if_full()
    }

    /// Ends the record being collected before a header section (`why` names the header's
    /// line): a record never spans a page header.
    pub fn interrupt(&mut self, why: &str) -> Option<Grouped<'_>> {
        if !self.is_open() {
            return None;
        }
        let closed = self.close(why);
        Some(self.give(closed))
    }

    /// The end of the report (or TERMINATE): the last record.
    pub fn finish(&mut self) -> Option<Grouped<'_>> {
        self.interrupt("the report ends")
    }

    fn start(&mut self, line: u64) {
        self.current_len = 0;
        self.current_bad = None;
        self.bad_lines = 0;
        self.first_line = line;
        self.last_line = line;
        self.last_complete = None;
    }

    fn add(&mut self, record: &RawRecord) {
        match self.current.get_mut(self.current_len) {
            // `clone_from` reuses the kept strings' capacity.
            Some(kept) => kept.clone_from(record),
            None => self.current.push(record.clone()),
        }
        self.current_len += 1;
        self.last_line = record.line;
    }

    fn complete_if_full(&mut self) -> Option<Grouped<'_>> {
        if !self.is_full() {
            return None;
        }
        let closed = self.close("");
        Some(self.give(closed))
    }

    /// Closes the current record: `Ok(())` when it is complete (its lines moved to `done`),
    /// else why it is rejected. `cut` says what ended it early.
    fn close(&mut self, cut: &str) -> Result<(), (u64, String)> {
        let (first, last, held) = (self.first_line, self.last_line, self.lines_held());
        let bad = self.current_bad.take();
        self.first_line = 0;
        let span = if first == last {
            format!("line {first}")
        } else {
            format!("lines {first}–{last}")
        };
        if let Some((line, reason)) = bad {
            return Err((
                first,
                format!(
                    "the record of {span} has a line that cannot be read (line {line}: {reason})"
                ),
            ));
        }
        if let Some(n) = self.rule.lines.filter(|&n| held < n) {
            return Err((
                first,
                format!(
                    "the record of {span} has {held} of its {n} lines (`SetRecordLines({n})`): {cut}"
                ),
            ));
        }
        self.last_complete = Some((first, last));
        std::mem::swap(&mut self.current, &mut self.done);
        self.done_len = self.current_len;
        self.current_len = 0;
        Ok(())
    }

    fn give(&self, closed: Result<(), (u64, String)>) -> Grouped<'_> {
        match closed {
            Ok(()) => Grouped::Record(&self.done[..self.done_len]),
            Err((line, reason)) => Grouped::Bad { line, reason },
        }
    }

    /// Why a line that begins no record and continues none is rejected.
    fn orphan(&self, line: u64) -> String {
        let begins = match &self.rule.start {
            Some(GroupStart::Matching { .. }) => "does not match `SetRecordStart`",
            Some(GroupStart::NotIndented) => "is indented (`SetRecordIndent`)",
            None => "does not begin a record",
        };
        match (self.rule.lines, self.last_complete) {
            (Some(n), Some((first, last))) => format!(
                "line {line} {begins}, and the record above (lines {first}–{last}) already has its {n} lines"
            ),
            _ => format!("line {line} {begins}, and there is no record above it to continue"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::glob;

    fn line(number: u64, text: &str) -> RawRecord {
        RawRecord {
            line: number,
            raw: text.to_string(),
            ..RawRecord::default()
        }
    }

    /// Feeds `lines` (a `None` text is a line that cannot be read) and the end; each result
    /// as the first lines of a record, or `!line: reason` for a rejection.
    fn run(rule: &RecordGrouping, lines: &[Option<&str>]) -> Vec<String> {
        let mut g = Grouper::new(rule);
        let mut out = Vec::new();
        let show = |r: Option<Grouped<'_>>, out: &mut Vec<String>| match r {
            Some(Grouped::Record(lines)) => out.push(
                lines
                    .iter()
                    .map(|l| format!("{}:{}", l.line, l.raw))
                    .collect::<Vec<_>>()
                    .join(" | "),
            ),
            Some(Grouped::Bad { line, reason }) => out.push(format!("!{line}: {reason}")),
            None => {}
        };
        for (i, text) in lines.iter().enumerate() {
            let number = i as u64 + 1;
            let r = match text {
                Some(t) => g.push(&line(number, t)),
                None => g.push_bad(number, "invalid UTF-8".into()),
            };
            show(r, &mut out);
        }
        show(g.finish(), &mut out);
        out
    }

    #[test]
    fn every_n_lines_and_a_short_last_record() {
        let rule = RecordGrouping {
            lines: Some(3),
            start: None,
        };
        let out = run(
            &rule,
            &[Some("a1"), Some("a2"), Some("a3"), Some("b1"), Some("b2")],
        );
        assert_eq!(
            out,
            [
                "1:a1 | 2:a2 | 3:a3",
                "!4: the record of lines 4–5 has 2 of its 3 lines (`SetRecordLines(3)`): the report ends"
            ]
        );
        // Lines that cannot be read take their places and make their record bad.
        let out = run(
            &rule,
            &[Some("a1"), None, None, Some("b1"), Some("b2"), Some("b3")],
        );
        assert_eq!(
            out,
            [
                "!1: the record of lines 1–3 has a line that cannot be read (line 2: invalid UTF-8)",
                "4:b1 | 5:b2 | 6:b3"
            ]
        );
    }

    #[test]
    fn start_lines_with_and_without_a_count() {
        let rule = RecordGrouping {
            lines: None,
            start: Some(GroupStart::Matching {
                filter: glob("VOL*"),
            }),
        };
        let out = run(
            &rule,
            &[
                Some("orphan"),
                Some("VOL1"),
                Some(" x"),
                Some("VOL2"),
                Some("  VOL3 "),
            ],
        );
        assert_eq!(
            out,
            [
                "!1: line 1 does not match `SetRecordStart`, and there is no record above it to continue",
                "2:VOL1 | 3: x",
                "4:VOL2",
                "5:  VOL3 "
            ]
        );
        let rule = RecordGrouping {
            lines: Some(2),
            start: rule.start.clone(),
        };
        let out = run(
            &rule,
            &[
                Some("VOL1"),
                Some("VOL2"),
                Some("x"),
                Some("y"),
                Some("VOL3"),
            ],
        );
        assert_eq!(
            out,
            [
                "!1: the record of line 1 has 1 of its 2 lines (`SetRecordLines(2)`): line 2 begins the next record",
                "2:VOL2 | 3:x",
                "!4: line 4 does not match `SetRecordStart`, and the record above (lines 2–3) already has its 2 lines",
                "!5: the record of line 5 has 1 of its 2 lines (`SetRecordLines(2)`): the report ends"
            ]
        );
    }

    #[test]
    fn indented_lines_continue_and_headers_interrupt() {
        let rule = RecordGrouping {
            lines: None,
            start: Some(GroupStart::NotIndented),
        };
        let mut g = Grouper::new(&rule);
        assert!(g.push(&line(1, "VOLUME-WITH-A-LONG")).is_none());
        assert!(g.push(&line(2, "   -NAME  LTO")).is_none());
        match g.interrupt("a header begins on line 3") {
            Some(Grouped::Record(lines)) => assert_eq!(lines.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(g.interrupt("again").is_none());
        assert!(matches!(
            g.push(&line(4, "\tcontinued")),
            Some(Grouped::Bad { line: 4, .. })
        ));
        assert!(g.push(&line(5, "NEXT")).is_none());
        assert!(matches!(g.finish(), Some(Grouped::Record([one])) if one.line == 5));
    }
}
