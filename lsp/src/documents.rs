//! Open documents and the loader that lets the compiler see them.
//!
//! An include of a file that is open in the editor must use the editor's unsaved text, not
//! what is on disk, or the diagnostics would contradict what the user sees.

use crate::lint::QuickFix;
use crate::uri::path_for_uri;
use lsp_types::Url;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use tapesync_compiler::compile::loader::normalise;
use tapesync_compiler::{FsLoader, SourceLoader};

/// One open document.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: String,
    pub version: i32,
    /// The file path for `file:` URIs; None for unsaved buffers (`untitled:`).
    pub path: Option<PathBuf>,
    /// Files the last lint read (see [`crate::lint::LintResult::dependencies`]).
    pub dependencies: Vec<PathBuf>,
    /// Quick fixes of the last published diagnostics.
    pub fixes: Vec<QuickFix>,
}

impl Document {
    pub fn new(uri: &Url, text: String, version: i32) -> Document {
        Document {
            text,
            version,
            path: path_for_uri(uri),
            dependencies: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// The name the compiler gets: the path (so includes resolve next to it), or the URI.
    pub fn compile_name(&self, uri: &Url) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => uri.to_string(),
        }
    }
}

/// Every open document, by URI.
#[derive(Debug, Default)]
pub struct Documents {
    docs: HashMap<Url, Document>,
}

impl Documents {
    pub fn get(&self, uri: &Url) -> Option<&Document> {
        self.docs.get(uri)
    }

    pub fn get_mut(&mut self, uri: &Url) -> Option<&mut Document> {
        self.docs.get_mut(uri)
    }

    pub fn insert(&mut self, uri: Url, doc: Document) {
        self.docs.insert(uri, doc);
    }

    pub fn remove(&mut self, uri: &Url) -> Option<Document> {
        self.docs.remove(uri)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Url, &Document)> {
        self.docs.iter()
    }

    /// A loader that reads open documents from memory and everything else from disk.
    pub fn loader(&self) -> OverlayLoader<'_> {
        OverlayLoader { docs: self }
    }
}

/// [`SourceLoader`] over the open documents, falling back to the file system.
pub struct OverlayLoader<'a> {
    docs: &'a Documents,
}

impl OverlayLoader<'_> {
    fn open_text(&self, path: &Path) -> Option<&str> {
        let wanted = normalise(path);
        self.docs
            .docs
            .values()
            .find(|d| d.path.as_deref() == Some(wanted.as_path()))
            .map(|d| d.text.as_str())
    }
}

impl SourceLoader for OverlayLoader<'_> {
    fn load(&self, path: &Path) -> io::Result<String> {
        match self.open_text(path) {
            Some(text) => Ok(text.to_string()),
            None => FsLoader.load(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::uri_for_path;

    #[test]
    fn open_documents_shadow_the_disk() {
        let dir = std::env::temp_dir().join("tapesync-lsp-overlay-test");
        let path = dir.join("inc.ttidef");
        let uri = Url::from_file_path(&path).expect("absolute path");
        let mut docs = Documents::default();
        docs.insert(
            uri.clone(),
            Document::new(&uri, "SetFile(\"x\");".into(), 1),
        );
        let loader = docs.loader();
        assert_eq!(
            loader.load(&dir.join("sub/../inc.ttidef")).ok().as_deref(),
            Some("SetFile(\"x\");")
        );
        assert!(loader.load(&dir.join("missing.ttidef")).is_err());
        assert_eq!(path_for_uri(&uri), Some(path.clone()));
        assert_eq!(uri_for_path(&path), Some(uri));
    }
}
