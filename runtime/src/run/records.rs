//! Reading a report through a plan without syncing anything: pass 1 alone, for commands that
//! need what a report says about volumes but compare it with something else (reconciliation
//! reads a vault's inventory this way: the same sources, line rules and field derivation as a
//! sync, so a definition means the same in both).

use super::read_pass::read_pass;
use super::{RunError, RunOptions};
use crate::observer::Observer;
use crate::read::input::LineReader;
use crate::spill::Spill;
use crate::stats::RunStats;
use crate::target::retry::RetryPolicy;
use chrono::NaiveDateTime;
use tapesync_compiler::plan::Plan;
use tapesync_model::SessionStart;

/// Reads, selects and derives every record of `lines` (rejections go to `observer`), and
/// returns the derived records grouped by scope with the reading's statistics.
pub fn read_records(
    plan: &Plan,
    lines: LineReader,
    now: NaiveDateTime,
    observer: &mut dyn Observer,
) -> Result<(Spill, RunStats), RunError> {
    let source_name = lines.name().to_string();
    // Only `now` (the repository rules), `limit` and `strict` matter to pass 1.
    let options = RunOptions {
        add_new: false,
        add_new_ids: false,
        dry_run: true,
        strict: false,
        batch_size: 1,
        limit: None,
        now,
        retry: RetryPolicy::default(),
        session: SessionStart {
            definition_name: String::new(),
            definition_hash: String::new(),
            source_name: source_name.clone(),
        },
        cache: None,
    };
    let mut stats = RunStats {
        dry_run: true,
        ..RunStats::default()
    };
    let mut deferred = false;
    let (spill, _) = read_pass(
        plan,
        lines,
        &options,
        &source_name,
        &mut stats,
        observer,
        None,
        None,
        &mut deferred,
        None,
        Vec::new(),
    )?;
    stats.statistics.scopes = spill.scopes().len() as u64;
    Ok((spill, stats))
}
