//! How the compiler reads included definitions and `*LIST:` files — and nothing else.
//!
//! The compiler never touches the file system or the environment directly; everything goes
//! through a [`SourceLoader`], so tests, the fuzzer and the language server can supply files
//! from memory.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub trait SourceLoader {
    /// Reads a whole text file.
    fn load(&self, path: &Path) -> io::Result<String>;

    /// An environment variable for `%NAME%` (after definition variables). The default reads
    /// the process environment.
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Reads files from the file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn load(&self, path: &Path) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        String::from_utf8(bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }
}

/// Files and environment from memory (tests, fuzzing, editors with unsaved buffers).
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    pub files: BTreeMap<PathBuf, String>,
    pub env: BTreeMap<String, String>,
}

impl MemoryLoader {
    pub fn new() -> MemoryLoader {
        MemoryLoader::default()
    }

    pub fn with_file(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }

    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }
}

impl SourceLoader for MemoryLoader {
    fn load(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&normalise(path))
            .or_else(|| self.files.get(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

/// Removes `.` and resolves `..` lexically (no file-system access), so that include cycles
/// are recognised however the path was spelt.
pub fn normalise(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Resolves `target` (as written in the definition) against the directory of `from`.
pub fn resolve(from: &Path, target: &str) -> PathBuf {
    let t = Path::new(target);
    if t.is_absolute() {
        normalise(t)
    } else {
        normalise(&from.parent().unwrap_or(Path::new("")).join(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_to_the_including_file() {
        assert_eq!(
            resolve(Path::new("defs/main.ttidef"), "../common/base.ttidef"),
            PathBuf::from("common/base.ttidef")
        );
        assert_eq!(
            resolve(Path::new("main.ttidef"), "./a.ttidef"),
            PathBuf::from("a.ttidef")
        );
    }
}
