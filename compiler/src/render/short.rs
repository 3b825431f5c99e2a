//! The short output: `file:line:col: severity[code]: message`, one line per diagnostic.

use crate::diagnostics::Diagnosed;

/// `file:line:col: severity[code]: message`, one line per diagnostic.
pub fn render_short<D: Diagnosed + ?Sized>(diagnosed: &D) -> String {
    let files = diagnosed.sources();
    let mut out = String::new();
    for d in diagnosed.diagnostics() {
        let loc = files.location(d.primary.file, d.primary.span.start);
        out.push_str(&format!(
            "{}:{}:{}: {}[{}]: {}\n",
            files.name(d.primary.file),
            loc.line,
            loc.column,
            d.severity.as_str(),
            d.code,
            d.message
        ));
    }
    out
}
