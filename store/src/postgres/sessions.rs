//! Sync sessions on PostgreSQL.

use super::PgStore;
use crate::backend::SessionSql;
use crate::error::StoreError;
use crate::sessions::record;
use postgres::Row;
use tapesync_model::{SessionRecord, SessionStart};

/// Columns read by [`record_from`], in order.
const SESSION_COLUMNS: &str = "id, \"user\", started_at, finished_at, definition_name, \
     definition_hash, source_name, outcome, statistics";

pub(super) const ADD_SCOPE: &str =
    "INSERT INTO session_scopes (session, customer, media) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING";

/// Records that a session was active (parameters: id, now).
pub(super) const ACTIVE: &str = "UPDATE sync_sessions SET last_active_at = $2 WHERE id = $1";

fn record_from(r: &Row) -> Result<SessionRecord, StoreError> {
    record(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
    )
}

impl SessionSql for PgStore {
    fn begin_session(
        &self,
        actor: &str,
        start: &SessionStart,
        now: &str,
    ) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query_one(
                    "INSERT INTO sync_sessions (\"user\", started_at, definition_name,
                     definition_hash, source_name, outcome, last_active_at)
                     VALUES ($1, $2, $3, $4, $5, 'running', $2) RETURNING id",
                    &[
                        &actor,
                        &now,
                        &start.definition_name,
                        &start.definition_hash,
                        &start.source_name,
                    ],
                )?
                .try_get(0)?)
        })
    }

    fn abandon_sessions(
        &self,
        actor: &str,
        start: &SessionStart,
        idle_since: &str,
        now: &str,
    ) -> Result<usize, StoreError> {
        self.with(|c| {
            let n = c.client.execute(
                "UPDATE sync_sessions SET outcome = 'abandoned', finished_at = $5
                 WHERE outcome = 'running'
                   AND (coalesce(last_active_at, started_at) < $4
                        OR (\"user\" = $1 AND definition_name = $2 AND source_name = $3))",
                &[
                    &actor,
                    &start.definition_name,
                    &start.source_name,
                    &idle_since,
                    &now,
                ],
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn finish_session(
        &self,
        id: i64,
        outcome: &str,
        statistics: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client.execute(
                "UPDATE sync_sessions SET finished_at = $2, outcome = $3, statistics = $4
                 WHERE id = $1 AND outcome IN ('running', 'abandoned')",
                &[&id, &now, &outcome, &statistics],
            )? > 0)
        })
    }

    fn session(&self, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sync_sessions WHERE id = $1");
        self.with(|c| {
            c.client
                .query_opt(&sql, &[&id])?
                .map(|r| record_from(&r))
                .transpose()
        })
    }

    fn list_sessions(
        &self,
        customers: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.with(|c| {
            let rows = match customers {
                None => c.client.query(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sync_sessions ORDER BY id DESC LIMIT $1"
                    ),
                    &[&limit],
                )?,
                Some(list) => c.client.query(
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sync_sessions WHERE id IN
                         (SELECT session FROM session_scopes WHERE customer = ANY($2))
                         ORDER BY id DESC LIMIT $1"
                    ),
                    &[&limit, &list],
                )?,
            };
            rows.iter().map(record_from).collect()
        })
    }

    fn add_session_scope(
        &self,
        id: i64,
        customer: &str,
        media: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let mut tx = c.client.transaction()?;
            tx.execute(ADD_SCOPE, &[&id, &customer, &media])?;
            tx.execute(ACTIVE, &[&id, &now])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn session_scopes(&self, id: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|c| {
            Ok(c.client
                .query(
                    "SELECT customer, media FROM session_scopes WHERE session = $1
                     ORDER BY customer, media",
                    &[&id],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }
}
