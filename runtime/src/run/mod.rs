//! A whole sync run.
//!
//! Pass 1 reads the input once, selects and derives every record and spills the derived
//! records to one temporary file per scope. Pass 2 takes the scopes in order of first
//! appearance: one download each, diff, apply in batches (the diffs on several threads where
//! there are cores for them, `diff_pool.rs`, their results used in scope order). `--strict`
//! inserts a pass between them that diffs every scope before the first batch is applied.

mod diff_pool;
mod kept_texts;
mod line_memo;
mod parallel;
mod partial;
mod read_pass;
mod records;
mod settled;
mod sync_pass;

use crate::derive::Deriver;
use crate::observer::Observer;
use crate::read::input::{InputError, LineReader};
use crate::scope::cache::{CacheSettings, Miss, ScopeCache};
use crate::scope::cache_loader::CacheLoader;
use crate::scope::cache_writer::CacheWriter;
use crate::scope::prefetch::{Prefetcher, DEFAULT_BUDGET};
use crate::stats::RunStats;
use crate::target::retry::{with_retry, RetryPolicy};
use crate::target::{Target, TargetError};
use chrono::NaiveDateTime;
use diff_pool::Pass2;
pub use diff_pool::PASS2_ENV;
use line_memo::MemoSettings;
pub use line_memo::LINE_MEMO_ENV;
use read_pass::read_pass;
pub use read_pass::PASS1_ENV;
pub use records::read_records;
use settled::Settling;
use std::time::Instant;
use sync_pass::{sync_pass, Tables};
use tapesync_compiler::plan::Plan;
use tapesync_model::{SessionOutcome, SessionStart};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Create volumes the inventory does not have, and the customers, media and repositories
    /// the definition names (scope/new_ids.rs).
    pub add_new: bool,
    /// Also create the customers, media and repositories the report names.
    pub add_new_ids: bool,
    /// Download and diff, print the changes, write nothing (no session either).
    pub dry_run: bool,
    /// The first rejected record aborts the run before anything is applied.
    pub strict: bool,
    /// Changes per apply batch.
    pub batch_size: usize,
    /// Read at most this many records.
    pub limit: Option<u64>,
    /// "Now" for the repository rules (injectable for tests: `TAPESYNC_NOW`).
    pub now: NaiveDateTime,
    pub retry: RetryPolicy,
    pub session: SessionStart,
    /// Keep scope tables between runs (docs/running.md, "The scope cache"); `None`: always
    /// download.
    pub cache: Option<CacheSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("temporary spill file: {0}")]
    Spill(#[from] std::io::Error),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("--strict: {source_name}:{line}: rejected: {reason}; nothing was applied")]
    Strict {
        source_name: String,
        line: u64,
        reason: String,
    },
}

impl RunError {
    /// Whether the failure is about the input's content (exit code 1) rather than usage,
    /// I/O or the target (exit code 2).
    pub fn is_input_problem(&self) -> bool {
        matches!(self, RunError::Strict { .. })
    }
}

/// How a run ended: the statistics so far, and the error that stopped it, if one did.
#[derive(Debug)]
pub struct RunOutcome {
    pub stats: RunStats,
    pub error: Option<RunError>,
    /// The session recorded in the target (`None` for dry runs and runs that failed early).
    pub session: Option<i64>,
}

/// Runs `plan` over the records of `lines` against `target`.
pub fn run(
    plan: &Plan,
    lines: LineReader,
    target: &mut dyn Target,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunOutcome {
    run_in(Pass2::for_run(), plan, lines, target, options, observer)
}

/// [`run`] with pass 2's comparisons in the given mode (tests compare the two).
fn run_in(
    pass2: Pass2,
    plan: &Plan,
    lines: LineReader,
    target: &mut dyn Target,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> RunOutcome {
    let started = Instant::now();
    let mut stats = RunStats {
        dry_run: options.dry_run,
        ..RunStats::default()
    };
    let source_name = lines.name().to_string();
    let mut session = None;
    let compared = Deriver::compared_fields(plan);
    // Scopes are downloaded on a second thread as soon as the input names them, when the
    // target can open a second handle (docs/running.md, "How a run works").
    let prefetcher = target
        .scope_reader()
        .map(|reader| Prefetcher::start(reader, compared.clone(), options.retry, DEFAULT_BUDGET))
        .filter(Prefetcher::is_running);
    let mut cache = options
        .cache
        .as_ref()
        .map(|settings| ScopeCache::new(settings, &compared));
    // The line memo and settled scopes live beside the scope cache; never for a part of the
    // report (`--limit`).
    let memo = options
        .cache
        .as_ref()
        .filter(|_| options.limit.is_none())
        .and_then(|c| MemoSettings::for_run(plan, &c.dir, &source_name).map(|m| (m, c)));
    // Read again if need be (`read_pass::read_again`): only a file can be.
    let path = lines.path().map(std::path::Path::to_path_buf);
    let result = (|| -> Result<(), RunError> {
        let mut deferred = false;
        // Scopes likely to be settled: pass 1 keeps few of their lines.
        let expected = match (&memo, &path, &cache) {
            (Some((m, c)), Some(_), Some(_)) => settled::likely_settled(
                &m.settled_path(),
                &format!("{}\ntarget={}", m.key(), c.target),
                target,
            ),
            _ => Vec::new(),
        };
        let (mut spill, pass1_lines) = read_pass(
            plan,
            lines,
            options,
            &source_name,
            &mut stats,
            observer,
            prefetcher.as_ref(),
            cache.as_ref(),
            &mut deferred,
            memo.as_ref().map(|(m, _)| m.clone()),
            expected,
        )?;
        let all_scopes = spill.scopes();
        stats.statistics.scopes = all_scopes.len() as u64;
        stats.statistics.grouped_by_scope = spill.unsorted();
        if spill.unsorted() {
            observer.warning(&format!(
                "{source_name}: the records are not sorted by scope (customer, media); they were grouped by scope so that each scope is downloaded once"
            ));
        }
        let mut settling = match (&memo, &pass1_lines) {
            (Some((m, c)), Some(lines)) => Some(Settling::new(
                m.settled_path(),
                format!("{}\ntarget={}", m.key(), c.target),
                &all_scopes,
                lines.digests.clone(),
            )),
            _ => None,
        };
        let from_cache = plan_cache(
            cache.as_mut(),
            &mut spill,
            deferred,
            prefetcher.as_ref(),
            target,
            options,
            observer,
            settling.as_mut(),
            &mut stats,
        );
        // Scopes kept in part: compared so, or to be filled by the second reading.
        let known = partial::plan(
            &mut spill,
            pass1_lines.as_ref().and_then(|l| l.memo.as_deref()),
            settling.as_ref(),
            cache.as_ref().filter(|c| c.is_ready()),
            &from_cache,
        );
        // Scopes whose lines pass 1 only counted, expecting them settled, and that were not.
        if let (true, Some(path), Some(lines)) = (spill.has_counted(), &path, &pass1_lines) {
            read_pass::read_again(
                plan,
                path,
                options,
                &source_name,
                &mut spill,
                &all_scopes,
                lines,
            )?;
        }
        if memo.as_ref().is_some_and(|(m, _)| !m.keeps_records()) {
            kept_texts::derive_kept_texts(plan, options.now, &mut spill);
        }
        if !options.dry_run {
            session = Some(with_retry(&options.retry, || {
                target.begin_session(&options.session)
            })?);
        }
        let ready = cache.as_ref().filter(|c| c.is_ready());
        // Diff workers load the entries themselves.
        let pass2 = match pass2 {
            Pass2::Parallel { .. } if sync_pass::pipelined(prefetcher.is_some(), options) => pass2,
            _ => Pass2::Sequential,
        };
        // Otherwise the planned entries are loaded on a thread of their own, one ahead of the
        // diff.
        let loader = ready
            .filter(|_| pass2 == Pass2::Sequential && from_cache.iter().any(|c| *c))
            .and_then(|c| {
                let planned = spill.scopes().into_iter().zip(&from_cache);
                CacheLoader::start(
                    c.clone(),
                    planned.filter(|(_, p)| **p).map(|(s, _)| s).collect(),
                )
            });
        let tables = Tables {
            prefetcher: prefetcher.as_ref(),
            cache: ready,
            from_cache,
            loader,
            writer: ready.map(|c| CacheWriter::start(c.clone())),
            fallback: None,
            columns: &compared,
            retry: options.retry,
        };
        let mut compared_notes = settled::Compared::default();
        let synced = sync_pass(
            pass2,
            plan,
            &compared,
            &spill,
            &known,
            tables,
            target,
            session,
            options,
            &source_name,
            &mut stats,
            observer,
            &mut compared_notes,
        );
        if let Some(settling) = &settling {
            settling.list_unreported(&all_scopes, &compared_notes.unreported, &mut stats);
            // A comparison in part that failed (the scope changed meanwhile, or what the last
            // run left does not hold): the next run compares every scope in full.
            if synced.is_err() && known.iter().any(Option::is_some) {
                settling.forget(observer);
            }
        }
        synced?;
        if let (Some(settling), Some(cache)) = (settling, ready) {
            settling.finish(cache, compared_notes.clean, observer);
        }
        if !options.dry_run {
            check_scratch_levels(target, &all_scopes, &options.retry, &mut stats, observer);
        }
        Ok(())
    })();
    // Stop downloading scopes the run will not use (after an error).
    drop(prefetcher);
    stats.statistics.elapsed_ms = started.elapsed().as_millis() as u64;
    let mut error = result.err();
    if let Some(id) = session {
        let outcome = if error.is_some() {
            SessionOutcome::Failed
        } else {
            SessionOutcome::Completed
        };
        let finished = with_retry(&options.retry, || {
            target.finish_session(id, outcome, &stats.statistics)
        });
        if let (Err(e), None) = (finished, &error) {
            error = Some(e.into());
        }
    }
    RunOutcome {
        stats,
        error,
        session,
    }
}

/// Asks the inventory for the versions of every scope of the run (one call) and decides,
/// per scope, whether its table is to come from the cache. When pass 1 held the downloads
/// back (`deferred`), the scopes that are not to come from the cache are requested from the
/// prefetcher now, in order. A failed versions call only means that nothing comes from the
/// cache (a warning): the run downloads, as without one.
#[allow(clippy::too_many_arguments)]
fn plan_cache(
    cache: Option<&mut ScopeCache>,
    spill: &mut crate::spill::Spill,
    deferred: bool,
    prefetcher: Option<&Prefetcher>,
    target: &mut dyn Target,
    options: &RunOptions,
    observer: &mut dyn Observer,
    settling: Option<&mut Settling>,
    stats: &mut RunStats,
) -> Vec<bool> {
    let mut scopes = spill.scopes();
    let mut from_cache = vec![false; scopes.len()];
    if let Some(cache) = cache {
        if !scopes.is_empty() {
            match with_retry(&options.retry, || target.scope_versions(&scopes)) {
                Ok(versions) => cache.set_versions(versions),
                Err(e) => observer.warning(&format!(
                    "the scope cache is not used in this run: the inventory did not tell the scope versions: {e}"
                )),
            }
        }
        // Without a prefetcher nothing was requested in pass 1: every scope may come from
        // the cache. With the downloads under way already, the entries are only checked, so
        // that a damaged one is reported (the download replaces it).
        let planned = deferred || prefetcher.is_none();
        // Scopes left settled are taken out of pass 2 — only when nothing was requested
        // from the prefetcher yet, whose downloads pass 2 takes in order.
        if let (Some(settling), true, true) = (settling, planned, cache.is_ready()) {
            if settling.settle(cache, spill, stats, observer) > 0 {
                scopes = spill.scopes();
                from_cache.truncate(scopes.len());
            }
        }
        if cache.is_ready() {
            for (i, scope) in scopes.iter().enumerate() {
                match cache.check_head(scope) {
                    Ok(()) => from_cache[i] = planned,
                    Err(Miss::Absent) => {}
                    Err(Miss::Damaged(why)) => {
                        observer.warning(&format!(
                            "scope cache: {why}; the entry is replaced by a fresh download of {scope}"
                        ));
                        cache.forget(scope);
                    }
                }
            }
        }
    }
    if deferred {
        if let Some(p) = prefetcher {
            for (scope, cached) in scopes.iter().zip(&from_cache) {
                if !cached {
                    p.request(scope);
                }
            }
        }
    }
    from_cache
}

/// Reads the scratch levels of every synced customer and keeps, in `stats`, those of the synced
/// media that the sync left under their minimum. A target that cannot say (an older server)
/// only earns a warning: the sync itself has succeeded.
fn check_scratch_levels(
    target: &mut dyn Target,
    scopes: &[tapesync_model::ScopeKey],
    retry: &RetryPolicy,
    stats: &mut RunStats,
    observer: &mut dyn Observer,
) {
    let mut customers: Vec<&str> = scopes.iter().map(|s| s.customer.as_str()).collect();
    customers.sort_unstable();
    customers.dedup();
    for customer in customers {
        match with_retry(retry, || target.scratch_levels(customer)) {
            Ok(levels) => stats.scratch_short.extend(levels.into_iter().filter(|l| {
                l.is_short()
                    && scopes
                        .iter()
                        .any(|s| s.customer == l.customer && s.media == l.media)
            })),
            Err(e) => observer.warning(&format!(
                "could not read the scratch levels of customer {customer}: {e}"
            )),
        }
    }
}

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

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod pass1_tests;
#[cfg(test)]
mod pass2_tests;
#[cfg(test)]
mod tests;
