//! The sources diagnostics point into: every file a compilation read, and byte offsets turned
//! into lines and columns.

use serde::Serialize;

/// Index of a file in the [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub usize);

/// A 1-based position: line, column in characters and column in UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub column_utf16: usize,
}

/// One loaded source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    /// The name as shown in messages (the path as given, or as resolved for includes).
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceText {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceText {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The 1-based location of byte `offset` (clamped to the text and to a char boundary).
    pub fn location(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_index = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line_index];
        let before = &self.text[start..offset];
        Location {
            line: line_index + 1,
            column: before.chars().count() + 1,
            column_utf16: before.encode_utf16().count() + 1,
        }
    }

    pub fn line_starts(&self) -> &[usize] {
        &self.line_starts
    }
}

/// Every file a compilation read (the definition first, then includes and `*LIST:` files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    files: Vec<SourceText>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceText::new(name, text));
        FileId(self.files.len() - 1)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceText> {
        self.files.get(id.0)
    }

    pub fn name(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.name.as_str())
    }

    pub fn location(&self, id: FileId, offset: usize) -> Location {
        self.get(id).map_or(
            Location {
                line: 1,
                column: 1,
                column_utf16: 1,
            },
            |f| f.location(offset),
        )
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceText)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_chars_and_utf16() {
        let f = SourceText::new("x", "ab\n“é𝄞”x");
        assert_eq!(
            f.location(0),
            Location {
                line: 1,
                column: 1,
                column_utf16: 1
            }
        );
        let x = f.text.find('x').unwrap();
        let l = f.location(x);
        assert_eq!((l.line, l.column, l.column_utf16), (2, 5, 6));
    }
}
