//! Sync sessions: who ran which definition over which source, how it ended, its statistics.

use crate::clock::now_text;
use crate::error::StoreError;
use crate::inventory::scope_ids;
use crate::Store;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Row};
use tapesync_model::{ScopeKey, SessionOutcome, SessionRecord, SessionStart, SyncStatistics};

fn outcome_text(outcome: SessionOutcome) -> &'static str {
    match outcome {
        SessionOutcome::Running => "running",
        SessionOutcome::Completed => "completed",
        SessionOutcome::DryRun => "dry_run",
        SessionOutcome::Failed => "failed",
    }
}

fn outcome_from(text: &str) -> Result<SessionOutcome, StoreError> {
    Ok(match text {
        "running" => SessionOutcome::Running,
        "completed" => SessionOutcome::Completed,
        "dry_run" => SessionOutcome::DryRun,
        "failed" => SessionOutcome::Failed,
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown session outcome {other}"
            )))
        }
    })
}

/// Columns read by [`record_from`], in order.
const SESSION_COLUMNS: &str = "id, user, started_at, finished_at, definition_name, \
     definition_hash, source_name, outcome, statistics";

fn record_from(r: &Row<'_>) -> Result<SessionRecord, StoreError> {
    let outcome: String = r.get(7)?;
    let statistics: Option<String> = r.get(8)?;
    Ok(SessionRecord {
        id: r.get(0)?,
        user: r.get(1)?,
        started_at: r.get(2)?,
        finished_at: r.get(3)?,
        definition_name: r.get(4)?,
        definition_hash: r.get(5)?,
        source_name: r.get(6)?,
        outcome: outcome_from(&outcome)?,
        statistics: statistics
            .map(|s| serde_json::from_str::<SyncStatistics>(&s))
            .transpose()?,
    })
}

impl Store {
    /// Records the start of a sync session by `actor`; returns its id.
    pub fn begin_session(&self, actor: &str, start: &SessionStart) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sync_sessions (user, started_at, definition_name, definition_hash,
                 source_name, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                actor,
                now_text(),
                start.definition_name,
                start.definition_hash,
                start.source_name,
                outcome_text(SessionOutcome::Running)
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a session ended and its statistics.
    pub fn finish_session(
        &self,
        id: i64,
        outcome: SessionOutcome,
        stats: &SyncStatistics,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE sync_sessions SET finished_at = ?2, outcome = ?3, statistics = ?4
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                now_text(),
                outcome_text(outcome),
                serde_json::to_string(stats)?
            ])?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("sync session {id}")));
        }
        Ok(())
    }

    /// One session by id.
    pub fn session(&self, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sync_sessions WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(r) => Ok(Some(record_from(r)?)),
            None => Ok(None),
        }
    }

    /// The most recent sessions, newest first. With `customers`, only sessions that applied
    /// changes (or tried to) to a scope of one of those customers.
    pub fn list_sessions(
        &self,
        customers: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (sql, args): (String, Vec<Value>) = match customers {
            None => (
                format!("SELECT {SESSION_COLUMNS} FROM sync_sessions ORDER BY id DESC LIMIT ?1"),
                vec![Value::Integer(limit)],
            ),
            Some([]) => return Ok(Vec::new()),
            Some(list) => {
                let marks = (2..list.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut args = vec![Value::Integer(limit)];
                args.extend(list.iter().map(|c| Value::Text(c.to_ascii_uppercase())));
                (
                    format!(
                        "SELECT {SESSION_COLUMNS} FROM sync_sessions WHERE id IN
                         (SELECT session FROM session_scopes WHERE customer IN ({marks}))
                         ORDER BY id DESC LIMIT ?1"
                    ),
                    args,
                )
            }
        };
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(record_from(r)?);
        }
        Ok(out)
    }

    /// Records that a session worked on a scope without applying a batch to it (a dry run or
    /// a scope with no changes), so that per-customer session lists show it too. Applying a
    /// batch records the scope by itself.
    pub fn touch_session_scope(&self, id: i64, scope: &ScopeKey) -> Result<(), StoreError> {
        let (customer, media) = scope_ids(scope)?;
        if self.session(id)?.is_none() {
            return Err(StoreError::NotFound(format!("sync session {id}")));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO session_scopes (session, customer, media) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![id, customer, media])?;
        Ok(())
    }

    /// The scopes (customer, media) a session applied batches to (or touched), sorted.
    pub fn session_scopes(&self, id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT customer, media FROM session_scopes WHERE session = ?1 ORDER BY customer, media",
        )?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
