//! Embeds the diagnostic pages (`docs/diagnostics/E0001.md` …) in the compiler, so that SARIF
//! output carries each rule's help text (`rules[].help`) on any machine, with no link to the
//! build tree. Generates `$OUT_DIR/help_pages.rs`: `(number, include_str!(page))` for every
//! page there is; a code without a page has no help text (a test in codes.rs requires one).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let pages = Path::new(&manifest).join("../docs/diagnostics");
    println!("cargo:rerun-if-changed={}", pages.display());
    let mut found: Vec<(u16, String)> = std::fs::read_dir(&pages)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let number = path
                .file_name()?
                .to_str()?
                .strip_prefix('E')?
                .strip_suffix(".md")?
                .parse()
                .ok()?;
            let absolute = std::fs::canonicalize(&path).ok()?;
            Some((number, absolute.display().to_string()))
        })
        .collect();
    found.sort();
    let mut out = String::from("/// `(code number, page)` for every page of docs/diagnostics/.\n");
    out.push_str("pub static HELP_PAGES: &[(u16, &str)] = &[\n");
    for (number, path) in &found {
        let _ = writeln!(out, "    ({number}, include_str!({path:?})),");
    }
    out.push_str("];\n");
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("help_pages.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
