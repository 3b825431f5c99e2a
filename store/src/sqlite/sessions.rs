//! Sync sessions on SQLite.

use super::SqliteStore;
use crate::backend::SessionSql;
use crate::error::StoreError;
use crate::sessions::record;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Row};
use tapesync_model::{SessionRecord, SessionStart};

/// Columns read by [`record_from`], in order.
const SESSION_COLUMNS: &str = "id, user, started_at, finished_at, definition_name, \
     definition_hash, source_name, outcome, statistics";

fn record_from(r: &Row<'_>) -> Result<SessionRecord, StoreError> {
    let outcome: String = r.get(7)?;
    record(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        &outcome,
        r.get(8)?,
    )
}

pub(super) fn add_session_scope(
    conn: &Connection,
    session: i64,
    customer: &str,
    media: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO session_scopes (session, customer, media) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![session, customer, media])?;
    conn.prepare_cached("UPDATE sync_sessions SET last_active_at = ?2 WHERE id = ?1")?
        .execute(params![session, now])?;
    Ok(())
}

impl SessionSql for SqliteStore {
    fn begin_session(
        &self,
        actor: &str,
        start: &SessionStart,
        now: &str,
    ) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sync_sessions (user, started_at, definition_name, definition_hash,
                 source_name, outcome, last_active_at) VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?2)",
            )?
            .execute(params![
                actor,
                now,
                start.definition_name,
                start.definition_hash,
                start.source_name,
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn abandon_sessions(
        &self,
        actor: &str,
        start: &SessionStart,
        idle_since: &str,
        now: &str,
    ) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE sync_sessions SET outcome = 'abandoned', finished_at = ?5
                 WHERE outcome = 'running'
                   AND (coalesce(last_active_at, started_at) < ?4
                        OR (user = ?1 AND definition_name = ?2 AND source_name = ?3))",
            )?
            .execute(params![
                actor,
                start.definition_name,
                start.source_name,
                idle_since,
                now
            ])?)
    }

    fn finish_session(
        &self,
        id: i64,
        outcome: &str,
        statistics: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE sync_sessions SET finished_at = ?2, outcome = ?3, statistics = ?4
                 WHERE id = ?1 AND outcome IN ('running', 'abandoned')",
            )?
            .execute(params![id, now, outcome, statistics])?
            > 0)
    }

    fn session(&self, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sync_sessions WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(r) => Ok(Some(record_from(r)?)),
            None => Ok(None),
        }
    }

    fn list_sessions(
        &self,
        customers: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let (sql, args): (String, Vec<Value>) = match customers {
            None => (
                format!("SELECT {SESSION_COLUMNS} FROM sync_sessions ORDER BY id DESC LIMIT ?1"),
                vec![Value::Integer(limit)],
            ),
            Some(list) => {
                let marks = (2..list.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut args = vec![Value::Integer(limit)];
                args.extend(list.iter().map(|c| Value::Text(c.clone())));
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

    fn add_session_scope(
        &self,
        id: i64,
        customer: &str,
        media: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        add_session_scope(&self.conn, id, customer, media, now)
    }

    fn session_scopes(&self, id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT customer, media FROM session_scopes WHERE session = ?1 ORDER BY customer, media",
        )?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
