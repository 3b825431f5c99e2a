//! Plan execution: record sources, field derivation, scope cache, diff, targets, statistics.
//!
//! Entry point: [`run::run`] with a [`input::LineReader`], a [`target::Target`] and an
//! [`observer::Observer`]. See docs/running.md for the behaviour users see.

pub mod derive;
pub mod observer;
pub mod read;
pub mod run;
pub mod scope;
pub mod spill;
pub mod stats;
pub mod target;
#[cfg(test)]
mod testutil;

pub use derive::{Derived, Deriver, SyncRecord};
pub use observer::{Collector, Observer};
pub use read::input::{InputSource, OpenInput};
pub use run::{run, RunError, RunOptions, RunOutcome};
pub use scope::diff::RetryPolicy;
pub use stats::RunReport;
pub use target::embedded::{self, EmbeddedTarget};
pub use target::http::{HttpRetry, HttpTarget, RoundTrips};
pub use target::{ScopeReader, Target, TargetError};

/// Parses a "now" override (`YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD`) — the value of
/// `TAPESYNC_NOW` — or returns the local time.
pub fn now_or_override(value: Option<&str>) -> Result<chrono::NaiveDateTime, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(chrono::Local::now().naive_local()),
        Some(v) => chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
            })
            .map_err(|_| format!("`{v}` is not a time (use YYYY-MM-DDTHH:MM:SS)")),
    }
}

/// SHA-256 of a definition file's text, hex (for the session record).
pub fn definition_hash(text: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}
