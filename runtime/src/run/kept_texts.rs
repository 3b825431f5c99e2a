//! Records that pass 1 kept as their line's text are derived here, once settled scopes have
//! left the spill: a line that last night's line memo knows gives the scope its entry names,
//! so pass 1 spills its text under that scope without deriving it (`line_memo.rs`), and only
//! the scopes pass 2 compares are derived — on a night when every scope settles, none.

use super::RunError;
use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::read::{RawRecord, Resplit};
use crate::spill::{encode_derived, DeriveText, Spill};
use chrono::NaiveDateTime;
use std::io;
use tapesync_compiler::plan::Plan;

/// Threads at most (the scopes are shared out among them).
const MAX_WORKERS: usize = 4;

/// Derives every record of `spill` kept as its text.
pub(super) fn derive_kept_texts(
    plan: &Plan,
    now: NaiveDateTime,
    spill: &mut Spill,
) -> Result<(), RunError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_WORKERS);
    let make = || -> Box<DeriveText<'_>> {
        let deriver = Deriver::new(plan, now);
        let mut derived = DerivedRecord::default();
        let mut record = RawRecord::default();
        let mut resplit = Resplit::for_plan(plan);
        Box::new(move |scope, line, text, out| {
            let resplit = resplit
                .as_mut()
                .ok_or_else(|| mismatch(line, "its format is not kept as text"))?;
            resplit
                .fill(line, text, &mut record)
                .map_err(|why| mismatch(line, &why))?;
            match deriver.derive_into(std::slice::from_ref(&record), &[], &mut derived) {
                Outcome::Record
                    if derived.customer() == scope.customer && derived.media() == scope.media =>
                {
                    encode_derived(out, &derived)
                }
                _ => Err(mismatch(line, "it gives another record than last night")),
            }
        })
    };
    spill.derive_texts(workers, &make).map_err(RunError::Spill)
}

/// A line that does not give what the memo said (a fingerprint collision, or a bug): the run
/// stops before anything is applied.
fn mismatch(line: u64, why: &str) -> io::Error {
    io::Error::other(format!(
        "line memo: line {line} does not give the record its memo entry says ({why}); nothing was applied — run again with TAPESYNC_LINE_MEMO=off and report this"
    ))
}
