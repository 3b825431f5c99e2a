//! Batches on SQLite: one IMMEDIATE transaction per batch or group of batches (SQLite admits one writer at a
//! time, so two batches of one scope never interleave), statement by statement through
//! cached prepared statements — in-process, a statement costs microseconds.

use super::checkpoint::WRITER_AUTOCHECKPOINT_PAGES;
use super::schema::VolumeSql;
use super::SqliteStore;
use crate::backend::ApplySql;
use crate::batch::{
    apply_batches, BatchRequest, RecordedBatch, ScopeTx, ScopeWrites, StoredVolume,
};
use crate::error::StoreError;
use rusqlite::types::ToSql;
use rusqlite::{
    params, params_from_iter, CachedStatement, Connection, OptionalExtension, TransactionBehavior,
};
use std::collections::HashSet;
use tapesync_model::ApplyResponse;

/// A batch's (or an import's) open transaction.
pub(super) struct SqliteTx<'a> {
    pub conn: &'a Connection,
    pub sql: &'a VolumeSql,
}

impl ApplySql for SqliteStore {
    fn apply(&mut self, requests: Vec<BatchRequest<'_>>) -> Result<Vec<ApplyResponse>, StoreError> {
        // A group writes the WAL frames of many batches in one commit, often more than the
        // writer's automatic checkpoint threshold: that checkpoint would then copy the whole
        // group into the database file inside the COMMIT, on the applying thread (measured:
        // +40 % CPU for 50 batches of 200 changes). It is off for a group's commit; the
        // checkpoint thread copies the group right after, as it does after every batch.
        let group = requests.len() > 1 && self.path.is_some();
        if group {
            set_writer_autocheckpoint(&self.conn, 0);
        }
        let applied = self.apply_in_one_transaction(requests);
        let mut started = false;
        if let (Some(path), Ok((_, true))) = (&self.path, &applied) {
            // From now on the checkpoint thread copies the WAL after every batch; the
            // writer's own automatic checkpoint, which runs inside a COMMIT and so holds up
            // the sync, only has to bound the WAL should that thread fall behind. At the
            // default of 1,000 pages it fired inside most large batches' commits anyway
            // (docs/benchmarks.md, "Round 3").
            started = self.checkpoint.request(path);
        }
        if group || started {
            set_writer_autocheckpoint(
                &self.conn,
                if self.checkpoint.running() {
                    WRITER_AUTOCHECKPOINT_PAGES
                } else {
                    SQLITE_AUTOCHECKPOINT_PAGES
                },
            );
        }
        applied.map(|(responses, _)| responses)
    }

    fn prune_applied_batches(&self, before: &str) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM applied_batches WHERE at < ?1", [before])?)
    }
}

impl SqliteStore {
    /// One IMMEDIATE transaction for the batches and one commit (one fsync of the WAL) —
    /// none when every batch replayed; the answers and whether anything was committed.
    fn apply_in_one_transaction(
        &mut self,
        requests: Vec<BatchRequest<'_>>,
    ) -> Result<(Vec<ApplyResponse>, bool), StoreError> {
        // IMMEDIATE takes the write lock up front: a read-then-write transaction that has to
        // upgrade later can fail with SQLITE_BUSY without waiting for the busy timeout.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut scope = SqliteTx {
            conn: &tx,
            sql: &self.sql,
        };
        let (responses, written) = apply_batches(&mut scope, &self.sql.columns, requests)?;
        if written {
            tx.commit()?;
        }
        // Otherwise nothing was written; the read transaction just ends.
        Ok((responses, written))
    }
}

/// SQLite's own automatic checkpoint threshold, which a connection starts with.
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 1_000;

/// Sets the writer's automatic checkpoint threshold (0: off). A failure only leaves the
/// previous threshold, which bounds the WAL as before.
fn set_writer_autocheckpoint(conn: &Connection, pages: u32) {
    let _ = conn.query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
        Ok(())
    });
}

impl ScopeTx for SqliteTx<'_> {
    fn recorded_batch(&mut self, key: &str) -> Result<Option<RecordedBatch>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT customer, media, response, request_digest FROM applied_batches
                 WHERE idempotency_key = ?1",
            )?
            .query_row([key], |r| {
                Ok(RecordedBatch {
                    customer: r.get(0)?,
                    media: r.get(1)?,
                    response: r.get(2)?,
                    digest: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn record_batch(
        &mut self,
        key: &str,
        customer: &str,
        media: &str,
        response: &str,
        at: &str,
        digest: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO applied_batches
                     (idempotency_key, customer, media, response, at, request_digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![key, customer, media, response, at, digest])?;
        Ok(())
    }

    fn session_exists(&mut self, session: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM sync_sessions WHERE id = ?1")?
            .exists([session])?)
    }

    fn add_session_scope(
        &mut self,
        session: i64,
        customer: &str,
        media: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        super::sessions::add_session_scope(self.conn, session, customer, media, now)
    }

    fn customer_exists(&mut self, customer: &str) -> Result<bool, StoreError> {
        super::inventory::customer_exists(self.conn, customer)
    }

    fn create_customer(&mut self, customer: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO customers (id, name) VALUES (?1, '')")?
            .execute([customer])?;
        Ok(())
    }

    fn media_exists(&mut self, customer: &str, media: &str) -> Result<bool, StoreError> {
        super::inventory::media_exists(self.conn, customer, media)
    }

    fn create_media(&mut self, customer: &str, media: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO media (customer, id, description) VALUES (?1, ?2, '')")?
            .execute([customer, media])?;
        Ok(())
    }

    fn repository_ids(&mut self, customer: &str) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM repositories WHERE customer = ?1")?;
        let ids = stmt.query_map([customer], |r| r.get::<_, String>(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    fn create_repository(&mut self, customer: &str, repository: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO repositories (customer, id, description) VALUES (?1, ?2, '')",
            )?
            .execute([customer, repository])?;
        Ok(())
    }

    /// One cached SELECT per volume, in Volume-ID order: in-process that is cheaper than
    /// assembling a set-valued query.
    fn current(
        &mut self,
        customer: &str,
        media: &str,
        volumes: &[&str],
        columns: &[usize],
    ) -> Result<Vec<Option<StoredVolume>>, StoreError> {
        let sql = self.sql.select(columns);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut out = Vec::with_capacity(volumes.len());
        for volume in volumes {
            let stored = stmt
                .query_row(params![customer, media, volume], |r| {
                    let mut values = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        values.push(r.get::<_, Option<String>>(i + 3)?);
                    }
                    Ok(StoredVolume {
                        row_id: r.get(0)?,
                        version: r.get(1)?,
                        values,
                        last_audit: r.get(2)?,
                    })
                })
                .optional()?;
            out.push(stored);
        }
        Ok(out)
    }

    fn bump_version(&mut self, customer: &str, media: &str) -> Result<(), StoreError> {
        super::inventory::bump_version(self.conn, customer, media)
    }

    fn scope_version(&mut self, customer: &str, media: &str) -> Result<u64, StoreError> {
        super::inventory::scope_version(self.conn, customer, media)
    }

    fn write_volumes(&mut self, writes: &ScopeWrites<'_>) -> Result<(), StoreError> {
        if !writes.inserts.is_empty() {
            let mut insert = self.conn.prepare_cached(&self.sql.insert)?;
            for new in &writes.inserts {
                let version = stored_version(new.version)?;
                let mut args: Vec<&dyn ToSql> = vec![
                    &writes.customer,
                    &writes.media,
                    &new.volume,
                    &version,
                    &writes.now,
                    &writes.now,
                    &new.last_audit,
                ];
                args.extend(new.values.iter().map(|v| v as &dyn ToSql));
                insert.execute(params_from_iter(args))?;
            }
        }
        // Consecutive volumes almost always change the same columns (a night's changes come
        // from one definition), so the statement is kept while the set stays the same, and
        // each volume's values are bound in place rather than gathered in a vector first.
        let mut update: Option<(&[usize], CachedStatement<'_>)> = None;
        for changed in &writes.updates {
            let version = stored_version(changed.version)?;
            let columns = changed.columns.as_slice();
            let stmt = match &mut update {
                Some((set, stmt)) if *set == columns => stmt,
                _ => {
                    let stmt = self.conn.prepare_cached(&self.sql.update(columns))?;
                    &mut update.insert((columns, stmt)).1
                }
            };
            stmt.raw_bind_parameter(1, version)?;
            stmt.raw_bind_parameter(2, writes.now)?;
            stmt.raw_bind_parameter(3, changed.last_audit)?;
            for (i, value) in changed.values.iter().enumerate() {
                stmt.raw_bind_parameter(i + 4, value)?;
            }
            stmt.raw_bind_parameter(changed.values.len() + 4, changed.row_id)?;
            stmt.raw_execute()?;
        }
        drop(update);
        if !writes.audit.is_empty() {
            let mut audit = self.conn.prepare_cached(
                "INSERT INTO audit
                     (id, previous, session, actor, at, customer, media, volume, field, old, new)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for row in &writes.audit {
                audit.execute(params![
                    row.id,
                    row.previous,
                    writes.session,
                    writes.actor,
                    writes.now,
                    writes.customer,
                    writes.media,
                    row.volume,
                    row.field,
                    row.old,
                    row.new
                ])?;
            }
        }
        Ok(())
    }

    /// The writer holds the write lock, so the ids after the largest are free (and are the
    /// ones SQLite would have chosen itself).
    fn audit_ids(&mut self, n: usize) -> Result<Vec<i64>, StoreError> {
        let largest: i64 = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM audit")?
            .query_row([], |r| r.get(0))?;
        let n = i64::try_from(n).map_err(|_| StoreError::Corrupt("too many audit rows".into()))?;
        Ok((largest + 1..=largest + n).collect())
    }
}

fn stored_version(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("version {version} is out of range")))
}
