//! Records that pass 1 kept as their line's text are derived here, when pass 2 reads their
//! scope: a line that last night's line memo knows gives the scope its entry names, so pass 1
//! spills its text under that scope without deriving it (`line_memo.rs`), and only the scopes
//! pass 2 compares are derived — on a night when every scope settles, none.

use crate::derive::{DerivedRecord, Deriver, Outcome};
use crate::read::{RawRecord, Resplit};
use crate::spill::{encode_derived, DeriveText, Spill, TextDeriver};
use chrono::NaiveDateTime;
use std::io;
use std::sync::Arc;
use tapesync_compiler::plan::Plan;

/// Has the texts of `spill` derived, with `plan` and "now", whenever a scope is read.
pub(super) fn derive_kept_texts(plan: &Plan, now: NaiveDateTime, spill: &mut Spill) {
    spill.derive_texts_on_read(Arc::new(PlanTexts {
        plan: plan.clone(),
        now,
    }));
}

/// Derives texts as pass 1 would have derived their lines.
struct PlanTexts {
    plan: Plan,
    now: NaiveDateTime,
}

impl TextDeriver for PlanTexts {
    fn begin(&self) -> Box<DeriveText<'_>> {
        let deriver = Deriver::new(&self.plan, self.now);
        let mut derived = DerivedRecord::default();
        let mut record = RawRecord::default();
        let mut resplit = Resplit::for_plan(&self.plan);
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
    }
}

/// A line that does not give what the memo said (a fingerprint collision, or a bug): the run
/// stops at the scope, before its changes are applied.
fn mismatch(line: u64, why: &str) -> io::Error {
    io::Error::other(format!(
        "line memo: line {line} does not give the record its memo entry says ({why}); run again with TAPESYNC_LINE_MEMO=off and report this"
    ))
}
