//! What the files a run keeps in its cache folder share — scope cache entries
//! (`scope/cache.rs`), the line memo's index (`run/line_memo.rs`, which streams its own) and
//! settled scopes (`run/settled.rs`): how one is replaced whole, and how their length-prefixed
//! texts are written and read back.

use std::io::{self, Write};
use std::path::Path;

/// Replaces the file at `path` with `parts`, one after the other: written to a temporary file
/// in the same folder (created if missing; private, 0600 on Unix) and renamed over the old
/// one, so that runs sharing the folder see the old file or the new one, never a mix.
pub(crate) fn replace(path: &Path, prefix: &str, parts: &[&[u8]]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Appends `text` as a u16 length (little-endian) and its UTF-8; `what` names it in the error
/// when it is longer than that allows.
pub(crate) fn put_text(out: &mut Vec<u8>, text: &str, what: &str) -> io::Result<()> {
    let len = u16::try_from(text.len())
        .map_err(|_| io::Error::other(format!("{what} too long to keep: {} bytes", text.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Reads little-endian values from a byte slice; every read is checked (`None` past the end
/// or for text that is not UTF-8), so a damaged file is an answer, never a panic.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    /// Bytes read so far.
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    pub(crate) fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.bytes(16)?.try_into().ok()?))
    }

    /// A text written by [`put_text`].
    pub(crate) fn text(&mut self) -> Option<String> {
        let len = u16::from_le_bytes(self.bytes(2)?.try_into().ok()?);
        Some(
            std::str::from_utf8(self.bytes(usize::from(len))?)
                .ok()?
                .to_string(),
        )
    }

    /// Whether every byte was read.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }
}
