//! Columns cut where the report's own ruler says (extension `SetRulerColumns`).
//!
//! Spectrum Protect prints a dashed ruler under the headings of a table (`------------
//! -----------  …`), and its versions print the same table with different column widths. A
//! ruler line sets the columns of the lines after it: column `n` begins where the `n`-th run of
//! dashes begins and ends where the next one begins (the first column from the start of the
//! line, the last to its end), so values aligned left or right under their dashes are both
//! inside their column. Every later ruler replaces the columns (a report of several tables, or
//! two versions' reports one after the other). Lines above the first ruler keep no columns.

use super::{RawRecord, RecordSource, RulerRole, SourceItem};
use crate::read::input::{InputError, LineReader};

/// A ruler has at least this many runs of dashes, so that a line of dashes alone (a banner or
/// a separator) is not taken for a ruler of one column.
const MIN_RULER_COLUMNS: usize = 2;

pub struct RulerSource {
    lines: LineReader,
    /// Character positions where the columns of the latest ruler begin (`None` before the
    /// first ruler).
    starts: Option<Vec<usize>>,
    /// Byte offsets of `starts` in the line being cut (kept for its capacity).
    cuts: Vec<usize>,
    record: RawRecord,
}

impl RulerSource {
    pub fn new(lines: LineReader) -> RulerSource {
        RulerSource {
            lines,
            starts: None,
            cuts: Vec::new(),
            record: RawRecord::default(),
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The character positions where the runs of dashes of `text` begin, when `text` is a ruler:
/// nothing but dashes and blanks, with at least [`MIN_RULER_COLUMNS`] runs of dashes.
fn ruler_starts(text: &str) -> Option<Vec<usize>> {
    let mut starts = Vec::new();
    let mut in_run = false;
    for (i, c) in text.chars().enumerate() {
        match c {
            '-' if !in_run => {
                starts.push(i);
                in_run = true;
            }
            '-' => {}
            c if is_blank(c) => in_run = false,
            _ => return None,
        }
    }
    (starts.len() >= MIN_RULER_COLUMNS).then_some(starts)
}

/// Cuts `text` at the columns beginning at character positions `starts`, trimming each value
/// of blanks. Every column gives an element, empty where the line is too short, so a column
/// counted from the end is counted from the ruler's last column.
fn cut(text: &str, starts: &[usize], cuts: &mut Vec<usize>, out: &mut super::Elements) {
    cuts.clear();
    // The first column begins at the start of the line: a value printed left of its dashes
    // is still in it.
    cuts.push(0);
    let mut next = starts.iter().skip(1).peekable();
    for (position, (byte, _)) in text.char_indices().enumerate() {
        while next.next_if(|&&s| s == position).is_some() {
            cuts.push(byte);
        }
        if next.peek().is_none() {
            break;
        }
    }
    cuts.resize(starts.len(), text.len());
    for (i, &from) in cuts.iter().enumerate() {
        let to = cuts.get(i + 1).copied().unwrap_or(text.len());
        out.push(text[from..to].trim_matches(is_blank));
    }
}

impl RecordSource for RulerSource {
    fn next_item(&mut self) -> Result<Option<SourceItem<'_>>, InputError> {
        let Some(line) = self.lines.next_line()? else {
            return Ok(None);
        };
        let text = match line.text {
            Err(reason) => {
                return Ok(Some(SourceItem::Bad {
                    line: line.number,
                    reason,
                }))
            }
            Ok(text) => text,
        };
        let record = &mut self.record;
        record.line = line.number;
        record.raw.clear();
        record.raw.push_str(text);
        record.elements.clear();
        record.ruler = if super::is_blank_line(text) {
            RulerRole::Cut
        } else if let Some(starts) = ruler_starts(text) {
            self.starts = Some(starts);
            RulerRole::Ruler
        } else if let Some(starts) = &self.starts {
            cut(text, starts, &mut self.cuts, &mut record.elements);
            RulerRole::Cut
        } else {
            RulerRole::BeforeRuler
        };
        Ok(Some(SourceItem::Record(&self.record)))
    }
    fn finish(self: Box<Self>) -> Result<(), InputError> {
        self.lines.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::input::lines_of;
    use crate::read::{collect, OwnedItem};

    fn records(input: &[u8]) -> Vec<(RulerRole, Vec<String>)> {
        collect(Box::new(RulerSource::new(lines_of(input))))
            .into_iter()
            .map(|item| match item {
                OwnedItem::Record(r) => (r.ruler, r.elements.iter().map(String::from).collect()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn rulers_of_two_widths_cut_the_same_columns() {
        let narrow = b"Name   Status   Slot\n----   ------   ----\nA1     Private  4,096\nA2              12\n";
        let wide = b"Name        Status      Slot\n----------  ----------  ------\nA1          Private     4,096\nA2                      12\n";
        for input in [&narrow[..], &wide[..]] {
            let got = records(input);
            assert_eq!(got[0], (RulerRole::BeforeRuler, vec![]));
            assert_eq!(got[1], (RulerRole::Ruler, vec![]));
            assert_eq!(got[2].1, ["A1", "Private", "4,096"]);
            assert_eq!(got[3].1, ["A2", "", "12"]);
        }
    }

    #[test]
    fn short_lines_give_empty_columns_and_a_later_ruler_replaces_the_columns() {
        let got = records(b"--- ---- --\nAB  C\n\n--  --\nxy  z\n");
        assert_eq!(got[1].1, ["AB", "C", ""]);
        assert_eq!(got[2], (RulerRole::Cut, vec![]));
        assert_eq!(got[3].0, RulerRole::Ruler);
        assert_eq!(got[4].1, ["xy", "z"]);
    }

    #[test]
    fn what_is_not_a_ruler() {
        assert_eq!(ruler_starts("\t----   --"), Some(vec![1, 8]));
        assert_eq!(ruler_starts("----------"), None, "one run is a separator");
        assert_eq!(ruler_starts("---- -x--"), None);
        assert_eq!(ruler_starts("A0001 -- --"), None);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let got = records("--  ---\nÄÖ  Zürich\n".as_bytes());
        assert_eq!(got[1].1, ["ÄÖ", "Zürich"]);
    }
}
