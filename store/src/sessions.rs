//! Sync sessions: who ran which definition over which source, how it ended, its statistics.

use crate::clock::now_text;
use crate::error::StoreError;
use crate::validate::{check_plain, scope_ids};
use crate::Store;
use chrono::{SecondsFormat, Utc};
use tapesync_model::{ScopeKey, SessionOutcome, SessionRecord, SessionStart, SyncStatistics};

/// How long a `running` session may go without activity (its start, a batch, a touched scope)
/// before the next session start marks it `abandoned` (docs/server-api.md, "Sessions"). A run
/// sends a batch per 1,000 changes and touches every scope it compares, so even the largest
/// scope keeps it far inside this.
pub const ABANDON_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(2);

pub(crate) fn outcome_text(outcome: SessionOutcome) -> &'static str {
    match outcome {
        SessionOutcome::Running => "running",
        SessionOutcome::Completed => "completed",
        SessionOutcome::DryRun => "dry_run",
        SessionOutcome::Failed => "failed",
        SessionOutcome::Abandoned => "abandoned",
    }
}

pub(crate) fn outcome_from(text: &str) -> Result<SessionOutcome, StoreError> {
    Ok(match text {
        "running" => SessionOutcome::Running,
        "completed" => SessionOutcome::Completed,
        "dry_run" => SessionOutcome::DryRun,
        "failed" => SessionOutcome::Failed,
        "abandoned" => SessionOutcome::Abandoned,
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown session outcome {other}"
            )))
        }
    })
}

/// A session row's columns as a record (the same on both backends).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    id: i64,
    user: String,
    started_at: String,
    finished_at: Option<String>,
    definition_name: String,
    definition_hash: String,
    source_name: String,
    outcome: &str,
    statistics: Option<String>,
) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id,
        user,
        started_at,
        finished_at,
        definition_name,
        definition_hash,
        source_name,
        outcome: outcome_from(outcome)?,
        statistics: statistics
            .map(|s| serde_json::from_str::<SyncStatistics>(&s))
            .transpose()?,
    })
}

impl Store {
    /// Records the start of a sync session by `actor`; returns its id.
    pub fn begin_session(&self, actor: &str, start: &SessionStart) -> Result<i64, StoreError> {
        check_plain("definition name", &start.definition_name)?;
        check_plain("definition hash", &start.definition_hash)?;
        check_plain("source name", &start.source_name)?;
        let now = now_text();
        let idle_since = (Utc::now() - ABANDON_AFTER).to_rfc3339_opts(SecondsFormat::Millis, true);
        self.backend
            .abandon_sessions(actor, start, &idle_since, &now)?;
        self.backend.begin_session(actor, start, &now_text())
    }

    /// Records how a session ended and its statistics. A session that has finished is never
    /// changed again: a second finish is a [`StoreError::Conflict`] (409 over HTTP). An
    /// abandoned session may still be finished by its run (it was only slow).
    pub fn finish_session(
        &self,
        id: i64,
        outcome: SessionOutcome,
        stats: &SyncStatistics,
    ) -> Result<(), StoreError> {
        let statistics = serde_json::to_string(stats)?;
        if !self
            .backend
            .finish_session(id, outcome_text(outcome), &statistics, &now_text())?
        {
            return Err(match self.session(id)? {
                Some(done) => StoreError::Conflict(format!(
                    "sync session {id} has already finished ({}); a finished session is not \
                     changed",
                    outcome_text(done.outcome)
                )),
                None => StoreError::NotFound(format!("sync session {id}")),
            });
        }
        Ok(())
    }

    /// One session by id.
    pub fn session(&self, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        self.backend.session(id)
    }

    /// The most recent sessions, newest first. With `customers`, only sessions that applied
    /// changes (or tried to) to a scope of one of those customers.
    pub fn list_sessions(
        &self,
        customers: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match customers {
            Some([]) => Ok(Vec::new()),
            Some(list) => {
                let upper: Vec<String> = list.iter().map(|c| c.to_ascii_uppercase()).collect();
                self.backend.list_sessions(Some(&upper), limit)
            }
            None => self.backend.list_sessions(None, limit),
        }
    }

    /// Records that a session worked on a scope without applying a batch to it (a dry run or
    /// a scope with no changes), so that per-customer session lists show it too. Applying a
    /// batch records the scope by itself.
    pub fn touch_session_scope(&self, id: i64, scope: &ScopeKey) -> Result<(), StoreError> {
        let (customer, media) = scope_ids(scope)?;
        if self.session(id)?.is_none() {
            return Err(StoreError::NotFound(format!("sync session {id}")));
        }
        self.backend
            .add_session_scope(id, &customer, &media, &now_text())
    }

    /// The scopes (customer, media) a session applied batches to (or touched), sorted.
    pub fn session_scopes(&self, id: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.backend.session_scopes(id)
    }
}
