//! `file:` URIs and paths, both ways, normalised as the compiler normalises include paths (so
//! an open document and an include of it are recognised as the same file).

use lsp_types::Url;
use std::path::{Path, PathBuf};
use tapesync_compiler::compile::loader::normalise;

/// The file path of a `file:` URI, normalised the way the compiler normalises include paths.
pub fn path_for_uri(uri: &Url) -> Option<PathBuf> {
    if uri.scheme() != "file" {
        return None;
    }
    uri.to_file_path().ok().map(|p| normalise(&p))
}

/// The `file:` URI of a path; relative paths are taken from the working directory.
pub fn uri_for_path(path: &Path) -> Option<Url> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    Url::from_file_path(normalise(&absolute)).ok()
}
