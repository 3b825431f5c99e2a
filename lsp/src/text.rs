//! Byte offsets ↔ LSP positions. LSP counts columns in UTF-16 code units (the protocol's
//! default `positionEncoding`), the compiler and the syntax tree in bytes, so every position
//! that crosses the wire goes through a [`LineIndex`] built from the document's text.

use lsp_types::{Position, Range};

/// Line starts of one text, for conversions in both directions.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts }
    }

    /// The LSP position of byte `offset` (clamped to the text and to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let character = self.text[start..offset].encode_utf16().count();
        Position::new(to_u32(line), to_u32(character))
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end.max(start)))
    }

    /// The byte offset of an LSP position. A column past the end of its line clamps to the
    /// line's end (before the newline), a line past the end to the end of the text — clients
    /// send such positions while typing at the end of a document.
    pub fn offset(&self, position: Position) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        let line_text = &self.text[start..end];
        let mut units = 0usize;
        for (i, ch) in line_text.char_indices() {
            if units >= position.character as usize {
                return start + i;
            }
            units += ch.len_utf16();
        }
        end
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Applies one LSP content change (ranged or whole-document) to `text`.
pub fn apply_change(text: &mut String, change: &lsp_types::TextDocumentContentChangeEvent) {
    match change.range {
        Some(range) => {
            let index = LineIndex::new(text);
            let start = index.offset(range.start);
            let end = index.offset(range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
        None => text.clone_from(&change.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip() {
        let text = "ab\n“é𝄞”x\nlast";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        // “ é are one unit each, 𝄞 is a surrogate pair, ” one unit: x is at column 5.
        assert_eq!(index.position(x), Position::new(1, 5));
        assert_eq!(index.offset(Position::new(1, 5)), x);
        assert_eq!(
            index.offset(Position::new(1, 99)),
            text.find("\nlast").unwrap()
        );
        assert_eq!(index.offset(Position::new(9, 0)), text.len());
        assert_eq!(index.position(text.len()), Position::new(2, 4));
    }

    #[test]
    fn ranged_changes_apply_in_utf16() {
        let mut text = String::from("# é\nSetFile(\"a\");\n");
        let change = lsp_types::TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(1, 9), Position::new(1, 10))),
            range_length: None,
            text: "b.txt".into(),
        };
        apply_change(&mut text, &change);
        assert_eq!(text, "# é\nSetFile(\"b.txt\");\n");
    }
}
