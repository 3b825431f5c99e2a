//! The elements of a record (delimited fields, whitespace words, ruler columns) in one text
//! buffer.
//!
//! A record's elements used to be a `Vec<String>`: every record of a million cost one copy per
//! element into its own string, and every hand-over of a record to another thread (pass 1's
//! chunks, the read-ahead batches) one more copy per element. Here they are spans of one
//! buffer, so filling a record and copying it are two `memcpy`s whatever the number of
//! elements, and a plain delimited line is copied once and cut by positions.

use std::fmt;

#[derive(Default)]
pub struct Elements {
    text: String,
    /// Byte range of each element in `text`, in order.
    spans: Vec<(usize, usize)>,
    /// Not cut yet: the record's text is to be cut at this delimiter by whoever derives it
    /// ([`Elements::defer`]). Until then there are no elements.
    deferred: Option<u8>,
}

impl Elements {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Element `i` (0-based).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        let &(start, end) = self.spans.get(i)?;
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Empties the list, keeping its buffers' capacity.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
        self.deferred = None;
    }

    /// No elements yet: the record's text is a plain delimited line (no quote, no line end),
    /// to be cut at `delimiter` only if the record is derived (pass 1's deriving threads do,
    /// `DelimitedSource::deferring`); a record found in the line memo never is.
    pub(crate) fn defer(&mut self, delimiter: u8) {
        self.clear();
        self.deferred = Some(delimiter);
    }

    /// The delimiter of a cut that was deferred, if one was.
    pub(crate) fn deferred(&self) -> Option<u8> {
        self.deferred
    }

    /// Appends an element.
    pub(crate) fn push(&mut self, element: &str) {
        let start = self.text.len();
        self.text.push_str(element);
        self.spans.push((start, self.text.len()));
    }

    /// Makes the elements the parts of `text` between the positions `cuts` (each a one-byte
    /// separator at an ASCII character, so every part is whole characters): `text` is copied
    /// once and the parts are its ranges.
    pub(crate) fn set_cut(&mut self, text: &str, cuts: impl Iterator<Item = usize>) {
        self.clear();
        self.text.push_str(text);
        let mut start = 0;
        for cut in cuts {
            self.spans.push((start, cut));
            start = cut + 1;
        }
        self.spans.push((start, text.len()));
    }
}

impl Clone for Elements {
    fn clone(&self) -> Self {
        Elements {
            text: self.text.clone(),
            spans: self.spans.clone(),
            deferred: self.deferred,
        }
    }

    /// Reuses both buffers (records are copied between threads a million times a run).
    fn clone_from(&mut self, source: &Self) {
        self.text.clone_from(&source.text);
        self.spans.clone_from(&source.spans);
        self.deferred = source.deferred;
    }
}

impl fmt::Debug for Elements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Elements {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out = Elements::default();
        for s in iter {
            out.push(s.as_ref());
        }
        out
    }
}

/// Equal when the elements are: the same elements may sit differently in the buffer (cut from
/// a copy of the line, or pushed one by one).
impl PartialEq for Elements {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Elements {}

impl<const N: usize> PartialEq<[&str; N]> for Elements {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.len() == N && self.iter().eq(other.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_and_pushed_elements_read_back() {
        let mut e = Elements::default();
        e.set_cut("a,bc,,d", [1, 4, 5].into_iter());
        assert_eq!(e, ["a", "bc", "", "d"]);
        assert_eq!(e.get(4), None);
        e.push("é");
        assert_eq!(e, ["a", "bc", "", "d", "é"]);
        let pushed: Elements = ["a", "bc", "", "d", "é"].into_iter().collect();
        assert_eq!(e, pushed);
        assert_ne!(e, ["a", "bc", "", "d"].into_iter().collect::<Elements>());
        let mut copy = Elements::default();
        copy.push("old");
        copy.clone_from(&e);
        assert_eq!(copy, e);
        e.set_cut("", std::iter::empty());
        assert_eq!(e, [""]);
        e.clear();
        assert!(e.is_empty());
        assert_eq!(format!("{e:?}"), "[]");
    }
}
