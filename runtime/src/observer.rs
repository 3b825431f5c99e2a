//! What a run tells its caller while it works: rejected records, the changes of a dry run,
//! progress and warnings. The CLI prints them (its console observer); tests
//! collect them.

use std::collections::BTreeMap;
use tapesync_model::{Field, ScopeKey, VolumeChange};

pub trait Observer {
    /// A record was rejected (`source:line: rejected: reason`).
    fn rejected(&mut self, source: &str, line: u64, reason: &str);
    /// A dry run would make `change`; `before` holds the volume's current values (`None` for
    /// a volume that would be created).
    fn would_change(
        &mut self,
        scope: &ScopeKey,
        change: &VolumeChange,
        before: Option<&BTreeMap<Field, String>>,
    );
    /// Records read so far (called every few thousand records and at the end of input).
    fn progress(&mut self, records_read: u64);
    /// The second pass: `compared` of `scopes` scopes compared so far, and `batches` batches
    /// applied (called after each scope, and once more when the last batch is in).
    fn sync_progress(&mut self, _compared: u64, _scopes: u64, _batches: u64) {}
    fn warning(&mut self, message: &str);
    /// A change was not applied: the volume (`scope volume`, from the record at `source:line`)
    /// was changed by someone else since it was downloaded. Counted and listed in the
    /// statistics already; a console caps these like rejections. The default reports it as a
    /// warning.
    fn conflict(&mut self, source: &str, line: u64, scope: &ScopeKey, volume: &str) {
        self.warning(&describe_conflict(source, line, scope, volume));
    }
}

/// `source:line: conflict: SCOPE VOLUME was changed by someone else …`.
pub fn describe_conflict(source: &str, line: u64, scope: &ScopeKey, volume: &str) -> String {
    format!(
        "{source}:{line}: conflict: {scope} {volume} was changed by someone else since it was downloaded; not updated"
    )
}

/// Collects everything (tests and embedding).
#[derive(Debug, Default)]
pub struct Collector {
    pub rejections: Vec<String>,
    pub changes: Vec<String>,
    pub warnings: Vec<String>,
}

impl Observer for Collector {
    fn rejected(&mut self, source: &str, line: u64, reason: &str) {
        self.rejections
            .push(format!("{source}:{line}: rejected: {reason}"));
    }
    fn would_change(
        &mut self,
        scope: &ScopeKey,
        change: &VolumeChange,
        before: Option<&BTreeMap<Field, String>>,
    ) {
        self.changes.extend(describe_change(scope, change, before));
    }
    fn progress(&mut self, _records_read: u64) {}
    fn warning(&mut self, message: &str) {
        self.warnings.push(message.to_string());
    }
}

/// Lines describing a change: `SCOPE VOLUME FIELD: old → new`, or a creation.
pub fn describe_change(
    scope: &ScopeKey,
    change: &VolumeChange,
    before: Option<&BTreeMap<Field, String>>,
) -> Vec<String> {
    let show = |v: Option<&String>| v.map_or("(none)".to_string(), |s| format!("{s:?}"));
    match before {
        None => {
            let fields: Vec<String> = change
                .set
                .iter()
                .map(|(f, v)| format!("{f}={}", show(v.as_ref())))
                .collect();
            vec![format!(
                "{scope} {}: create ({})",
                change.volume,
                fields.join(", ")
            )]
        }
        Some(old) => change
            .set
            .iter()
            .map(|(f, v)| {
                format!(
                    "{scope} {} {f}: {} → {}",
                    change.volume,
                    show(old.get(f)),
                    show(v.as_ref())
                )
            })
            .collect(),
    }
}
