//! Recognising a UTF-16 report that has no byte-order mark.
//!
//! Most Windows tools that write UTF-16 put a byte-order mark first, but not all do (.NET's
//! `new UnicodeEncoding(false, false)`, `iconv -t UTF-16LE`, some report exporters). Read as
//! UTF-8, such a file has a NUL in every other byte, and every line would be rejected as binary
//! data. The pattern is unmistakable in the first KiB: report text is mostly ASCII, and an ASCII
//! character in UTF-16 is one non-zero byte and one zero byte, in an order that gives the
//! endianness. So instead of a rejection per line the report is decoded (docs/running.md,
//! "Encodings").

use encoding_rs::Encoding;

/// How much of the start of the input is looked at.
pub const SNIFF_BYTES: usize = 1024;

/// Fewer code units than this prove nothing (a two-byte file is as likely junk as text).
const MIN_UNITS: usize = 4;

/// The UTF-16 encoding that `head` (the first bytes of an input without a byte-order mark) is
/// written in, or `None` when it does not look like UTF-16.
///
/// It is UTF-16 when at least three code units in four are an ASCII-range character (a zero
/// byte on one side, a non-zero byte on the other, the same side every time) and no code unit is
/// U+0000. The three-in-four leaves room for non-Latin names in descriptions; U+0000 never
/// occurs in text, and it keeps UTF-32 (where half the units are zero) and NUL-padded binary out.
pub fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    let head = &head[..head.len().min(SNIFF_BYTES) & !1];
    let units = head.len() / 2;
    if units < MIN_UNITS {
        return None;
    }
    let (mut low_first, mut high_first) = (0usize, 0usize);
    for pair in head.chunks_exact(2) {
        match (pair[0], pair[1]) {
            (0, 0) => return None,
            (_, 0) => low_first += 1,
            (0, _) => high_first += 1,
            _ => {}
        }
    }
    let most = |count: usize| count * 4 >= units * 3;
    if most(low_first) {
        Some(encoding_rs::UTF_16LE)
    } else if most(high_first) {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str, big_endian: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn ascii_reports_in_either_byte_order() {
        let text = "A00001,LIBR,1,NO,05/01/2027,daily\r\n";
        assert_eq!(
            utf16_without_bom(&encode(text, false)),
            Some(encoding_rs::UTF_16LE)
        );
        assert_eq!(
            utf16_without_bom(&encode(text, true)),
            Some(encoding_rs::UTF_16BE)
        );
    }

    #[test]
    fn some_non_latin_text_is_still_recognised() {
        let text = "A00001,LIBR,日本の倉庫,daily,weekly\r\n";
        assert_eq!(
            utf16_without_bom(&encode(text, false)),
            Some(encoding_rs::UTF_16LE)
        );
    }

    #[test]
    fn utf8_and_binary_are_not_utf16() {
        // A UTF-8 report with one NUL byte (rejected on its own line, as before).
        assert_eq!(utf16_without_bom(b"A00001,LIBR\nA00003\0,OFFS\n"), None);
        // UTF-32: every other code unit is U+0000.
        let utf32: Vec<u8> = "A00001,LIBR"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        assert_eq!(utf16_without_bom(&utf32), None);
        // Too short to tell, and empty.
        assert_eq!(utf16_without_bom(&encode("A0", false)), None);
        assert_eq!(utf16_without_bom(b""), None);
        // Random-looking bytes.
        let junk: Vec<u8> = (0..1024u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(utf16_without_bom(&junk), None);
    }

    #[test]
    fn only_the_first_kib_is_looked_at() {
        let mut bytes = encode(&"A00001,LIBR\r\n".repeat(100), false);
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        assert_eq!(utf16_without_bom(&bytes), Some(encoding_rs::UTF_16LE));
    }
}
