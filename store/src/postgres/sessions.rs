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
                     definition_hash, source_name, outcome)
                     VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id",
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
                 WHERE id = $1",
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

    fn add_session_scope(&self, id: i64, customer: &str, media: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.client.execute(ADD_SCOPE, &[&id, &customer, &media])?;
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
