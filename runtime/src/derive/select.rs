//! Record selection (`AddString` rules and `SetHeaderCount`): which records are body records,
//! which are headers whose values carry to the body records below them, and which are skipped.
//!
//! Per record, in this order:
//! 1. inside a header section (the `HEADER` record and the `header_count - 1` records after it)
//!    the record is a header record, whatever else it matches;
//! 2. `TERMINATE` ends processing for good;
//! 3. `HEADER` starts a header section;
//! 4. `START`/`END` open and close the processing window (without `START` rules the window is
//!    open from record 1); the marker records themselves are not processed;
//! 5. `EXCLUSION` skips the record (counted as excluded);
//! 6. anything else is a body record.

use crate::read::RawRecord;
use tapesync_compiler::plan::{LineRule, LineRuleKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Body,
    Header,
    /// A START/END marker or a record outside the window.
    Outside,
    Excluded,
    Terminate,
}

pub struct Selector<'p> {
    rules: &'p [LineRule],
    /// Which rule kinds occur at all (indexed by [`kind_bit`]): most definitions have few or
    /// no `AddString` rules, so most checks per record end here.
    kinds: u8,
    header_count: usize,
    window_open: bool,
    /// The current header section is `header[..header_len]`; records past it are kept for
    /// reuse (a report repeats its page header every page). Whole records, so that an
    /// extraction can take an element of a header record of delimited or whitespace input.
    header: Vec<RawRecord>,
    header_len: usize,
    header_remaining: usize,
    /// Bumped whenever the header section changes, so that a reader of [`Selector::header`]
    /// can tell a new section from the one it copied (pass 1 on several threads).
    header_generation: u64,
}

fn kind_bit(kind: LineRuleKind) -> u8 {
    match kind {
        LineRuleKind::Header => 1,
        LineRuleKind::Exclusion => 2,
        LineRuleKind::Start => 4,
        LineRuleKind::End => 8,
        LineRuleKind::Terminate => 16,
    }
}

impl<'p> Selector<'p> {
    pub fn new(rules: &'p [LineRule], header_count: usize) -> Selector<'p> {
        let has_start = rules.iter().any(|r| r.kind == LineRuleKind::Start);
        Selector {
            rules,
            kinds: rules.iter().fold(0, |bits, r| bits | kind_bit(r.kind)),
            header_count,
            window_open: !has_start,
            header: Vec::new(),
            header_len: 0,
            header_remaining: 0,
            header_generation: 0,
        }
    }

    /// The records of the current header section (index 0 is header record 1).
    pub fn header(&self) -> &[RawRecord] {
        &self.header[..self.header_len]
    }

    /// Changes whenever [`Selector::header`] does.
    pub fn header_generation(&self) -> u64 {
        self.header_generation
    }

    fn push_header(&mut self, record: &RawRecord) {
        self.header_generation += 1;
        match self.header.get_mut(self.header_len) {
            // `clone_from` reuses the kept strings' capacity.
            Some(kept) => kept.clone_from(record),
            None => self.header.push(record.clone()),
        }
        self.header_len += 1;
    }

    /// Whether a rule of `kind` matches `raw`. Inlined for the question asked of every record
    /// about kinds the plan has no rule of (a call cost more than the answer).
    #[inline]
    fn hit(&self, kind: LineRuleKind, raw: &str) -> bool {
        self.kinds & kind_bit(kind) != 0 && self.rule_hit(kind, raw)
    }

    fn rule_hit(&self, kind: LineRuleKind, raw: &str) -> bool {
        self.rules.iter().any(|r| {
            r.kind == kind && {
                // Offsets count characters. Nothing left to test (an empty line, a record
                // shorter than the offset) is tested as one blank, as if the record were
                // padded: TapeTrack's `AddString(TERMINATE, 0, " *")` stops at the first
                // blank record, an empty line included.
                let rest = if r.offset == 0 {
                    raw
                } else {
                    match raw.char_indices().nth(r.offset) {
                        Some((i, _)) => &raw[i..],
                        None => "",
                    }
                };
                r.filter.matches(if rest.is_empty() { " " } else { rest })
            }
        })
    }

    /// Whether `raw` would begin a header section ([`Selector::classify`] would say so and
    /// start the section), asked before the section replaces the current one.
    pub fn begins_header(&self, raw: &str) -> bool {
        self.header_remaining == 0
            && self.hit(LineRuleKind::Header, raw)
            && !self.hit(LineRuleKind::Terminate, raw)
    }

    pub fn classify(&mut self, record: &RawRecord) -> Class {
        let raw = record.raw.as_str();
        if self.header_remaining > 0 {
            self.header_remaining -= 1;
            self.push_header(record);
            return Class::Header;
        }
        if self.hit(LineRuleKind::Terminate, raw) {
            return Class::Terminate;
        }
        if self.hit(LineRuleKind::Header, raw) {
            self.header_len = 0;
            self.push_header(record);
            self.header_remaining = self.header_count.saturating_sub(1);
            return Class::Header;
        }
        if !self.window_open {
            if self.hit(LineRuleKind::Start, raw) {
                self.window_open = true;
            }
            return Class::Outside;
        }
        if self.hit(LineRuleKind::End, raw) {
            self.window_open = false;
            return Class::Outside;
        }
        if self.hit(LineRuleKind::Exclusion, raw) {
            return Class::Excluded;
        }
        Class::Body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::glob;

    fn line(text: &str) -> RawRecord {
        RawRecord {
            raw: text.to_string(),
            ..RawRecord::default()
        }
    }

    fn header(s: &Selector<'_>) -> Vec<String> {
        s.header().iter().map(|r| r.raw.clone()).collect()
    }

    fn rule(kind: LineRuleKind, offset: usize, filter: &str) -> LineRule {
        LineRule {
            kind,
            offset,
            filter: glob(filter),
        }
    }

    #[test]
    fn windows_headers_exclusions_terminate() {
        let rules = vec![
            rule(LineRuleKind::Header, 0, "Page*"),
            rule(LineRuleKind::Start, 0, "----*"),
            rule(LineRuleKind::End, 0, "Total*"),
            rule(LineRuleKind::Exclusion, 2, "CLN*"),
            rule(LineRuleKind::Terminate, 0, "END OF REPORT*"),
        ];
        let mut s = Selector::new(&rules, 2);
        let classes: Vec<Class> = [
            "A00001 before start",
            "Page 1",
            "Library LIB1",
            "------",
            "A00002",
            "  CLN001",
            "Total 2",
            "A00003 outside",
            "-----",
            "A00004",
            "END OF REPORT",
        ]
        .iter()
        .map(|l| s.classify(&line(l)))
        .collect();
        use Class::*;
        assert_eq!(
            classes,
            [
                Outside, Header, Header, Outside, Body, Excluded, Outside, Outside, Outside, Body,
                Terminate
            ]
        );
        assert_eq!(header(&s), ["Page 1", "Library LIB1"]);
        // A later, shorter header section replaces the whole section.
        let rules = vec![rule(LineRuleKind::Header, 0, "Page*")];
        let mut s = Selector::new(&rules, 2);
        for text in ["Page 1", "Library LONG-NAME", "x", "Page 2", "L2"] {
            s.classify(&line(text));
        }
        assert_eq!(header(&s), ["Page 2", "L2"]);
        let mut s = Selector::new(&rules, 1);
        for text in ["Page 1", "x", "Page 2"] {
            s.classify(&line(text));
        }
        assert_eq!(header(&s), ["Page 2"]);
    }

    #[test]
    fn blank_records_end_a_report_and_fill_headers() {
        let rules = vec![
            rule(LineRuleKind::Header, 0, "1*"),
            rule(LineRuleKind::Terminate, 0, " *"),
        ];
        let mut s = Selector::new(&rules, 3);
        let classes: Vec<Class> = ["1 Page", "", "Lib", "A00001", "", "A00002"]
            .iter()
            .map(|l| s.classify(&line(l)))
            .collect();
        use Class::*;
        assert_eq!(classes, [Header, Header, Header, Body, Terminate, Body]);
        assert_eq!(header(&s), ["1 Page", "", "Lib"]);
        let mut s = Selector::new(&rules, 1);
        assert_eq!(s.classify(&line("   ")), Terminate);
    }

    #[test]
    fn short_records_test_one_blank() {
        let rules = vec![rule(LineRuleKind::Exclusion, 10, "!*X*")];
        let mut s = Selector::new(&rules, 0);
        assert_eq!(s.classify(&line("abc")), Class::Excluded);
        assert_eq!(s.classify(&line("0123456789X")), Class::Body);
    }
}
