//! Applying a batch of volume changes: one transaction, optimistic versions, audit rows,
//! idempotency.

use crate::clock::now_text;
use crate::error::{invalid_value, StoreError};
use crate::inventory::{scope_ids, volume_id};
use crate::schema::Columns;
use crate::Store;
use rusqlite::types::ToSql;
use rusqlite::{
    params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;
use tapesync_model::{
    canonicalise, ApplyBatch, ApplyResponse, Field, ScopeKey, VolumeOutcome, VolumeResult,
};

/// A change whose volume id and values passed validation, in canonical form.
struct CheckedChange {
    volume: String,
    expected_version: Option<u64>,
    /// (position among the stored columns, field, new value), in column order — the order
    /// the audit rows of a change have always been written in.
    set: Vec<(usize, Field, Option<String>)>,
    /// The positions of `set`, the key of the statement that reads their current values.
    columns: Vec<usize>,
}

/// SQL text for reading and updating a set of columns, built once per distinct column set
/// and batch. Reading and rewriting only the columns a change touches keeps the work per
/// volume small: an update that names `repository` makes SQLite maintain
/// `volumes_by_repository` and check the repository foreign key, one that does not, doesn't.
#[derive(Default)]
struct ColumnSql {
    select: HashMap<Vec<usize>, String>,
    update: HashMap<Vec<usize>, String>,
}

impl ColumnSql {
    fn select(&mut self, columns: &Columns, set: &[usize]) -> &str {
        if !self.select.contains_key(set) {
            let sql = format!(
                "SELECT id, version{} FROM volumes WHERE customer = ?1 AND media = ?2 AND volume = ?3",
                set.iter()
                    .map(|i| format!(", {}", columns.names[*i]))
                    .collect::<String>()
            );
            self.select.insert(set.to_vec(), sql);
        }
        &self.select[set]
    }

    /// `UPDATE volumes SET version = ?1, updated_at = ?2, <columns> = ?3… WHERE id = ?last`.
    fn update(&mut self, columns: &Columns, set: &[usize]) -> &str {
        if !self.update.contains_key(set) {
            let assignments = set
                .iter()
                .enumerate()
                .map(|(n, i)| format!(", {} = ?{}", columns.names[*i], n + 3))
                .collect::<String>();
            let sql = format!(
                "UPDATE volumes SET version = ?1, updated_at = ?2{assignments} WHERE id = ?{}",
                set.len() + 3
            );
            self.update.insert(set.to_vec(), sql);
        }
        &self.update[set]
    }
}

/// Copies committed batches from the WAL into the database file on a second connection, on a
/// thread of its own, so that the applying thread does not.
///
/// Without it SQLite's automatic checkpoint runs inside the COMMIT of every batch that takes
/// the WAL past 1,000 pages — in a large sync about every second batch, a third of the apply
/// time (see docs/benchmarks.md, "Applying batches"). Durability does not depend on when
/// checkpoints run: a batch is on disk once its WAL frames are fsynced by its COMMIT
/// (`synchronous = FULL`), and a checkpoint only copies frames that are already durable. The
/// writer's automatic checkpoint stays on, at a higher threshold once this thread runs
/// ([`WRITER_AUTOCHECKPOINT_PAGES`]), as the safety net that bounds the WAL should this thread
/// fall behind or be unavailable; the checkpoints are PASSIVE, so they never wait for or block
/// the writer or readers.
#[derive(Default)]
pub(crate) struct BackgroundCheckpoint {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The writer's automatic checkpoint threshold once the checkpoint thread runs: 10,000 pages
/// (~40 MB of WAL with 4 KiB pages) instead of SQLite's 1,000.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

impl BackgroundCheckpoint {
    /// Asks for a checkpoint of the store at `path`, starting the thread on first use.
    /// Returns whether this call started the thread.
    pub(crate) fn request(&mut self, path: &Path) -> bool {
        let started = self.requests.is_none() && self.start(path);
        if let Some(requests) = &self.requests {
            // Full means a request is already waiting, and it covers this batch too;
            // disconnected means the thread could not open the store: the writer's automatic
            // checkpoint does the work, as without this thread.
            let _ = requests.try_send(());
        }
        started
    }

    /// Starts the thread; false if it could not be started.
    fn start(&mut self, path: &Path) -> bool {
        let (requests, received) = sync_channel::<()>(1);
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("tapesync-checkpoint".into())
            .spawn(move || {
                let Ok(conn) = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) else {
                    return;
                };
                // The checkpoint syncs the database file before the WAL may be reused.
                if conn
                    .busy_timeout(Duration::from_secs(1))
                    .and_then(|()| conn.execute_batch("PRAGMA synchronous = FULL;"))
                    .is_err()
                {
                    return;
                }
                while received.recv().is_ok() {
                    // BUSY (another checkpoint is running) or any other failure leaves the
                    // frames to the next checkpoint; nothing is lost either way.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            });
        match spawned {
            Ok(thread) => {
                self.requests = Some(requests);
                self.thread = Some(thread);
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for BackgroundCheckpoint {
    /// Lets the thread finish its checkpoint and close its connection, so that the store's own
    /// connection is the last one and closing it checkpoints the rest and removes the WAL, as
    /// it did before the thread existed.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Everything one batch needs while it runs inside its transaction.
pub(crate) struct BatchContext<'a> {
    pub conn: &'a Connection,
    pub columns: &'a Columns,
    pub actor: &'a str,
    pub session: Option<i64>,
    pub create_missing: bool,
    pub customer: String,
    pub media: String,
    pub repositories: HashSet<String>,
    pub now: String,
}

/// A stored volume as read for a change: its row id, version and the values of the columns
/// read (every column in column order, or a change's columns in the order of its `set`).
pub(crate) struct StoredVolume {
    pub row_id: i64,
    pub version: u64,
    pub values: Vec<Option<String>>,
}

impl Store {
    /// Applies one batch of changes to one scope, atomically.
    ///
    /// Invalid input (a bad volume id, a value that does not fit its field, a field that is
    /// not stored) fails the whole batch with [`StoreError::Invalid`] and writes nothing.
    /// Otherwise each change gets its own outcome: applied, created, a version conflict or a
    /// rejection (unknown customer, media, repository or volume without `create_missing`).
    /// A repeated idempotency key answers with the recorded response, `replayed: true`.
    pub fn apply(
        &mut self,
        actor: &str,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        if batch.idempotency_key.trim().is_empty() {
            return Err(StoreError::invalid(None, "the idempotency key is empty"));
        }
        let changes = check_changes(&self.columns, batch)?;
        // IMMEDIATE takes the write lock up front: a read-then-write transaction that has to
        // upgrade later can fail with SQLITE_BUSY without waiting for the busy timeout.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(recorded) = recorded_response(&tx, &batch.idempotency_key, &customer, &media)? {
            return Ok(recorded);
        }
        if let Some(session) = batch.session {
            let exists = tx
                .prepare_cached("SELECT 1 FROM sync_sessions WHERE id = ?1")?
                .exists([session])?;
            if !exists {
                return Err(StoreError::invalid(
                    None,
                    format!("sync session {session} does not exist"),
                ));
            }
            tx.prepare_cached(
                "INSERT INTO session_scopes (session, customer, media) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![session, customer, media])?;
        }
        let mut ctx = BatchContext {
            conn: &tx,
            columns: &self.columns,
            actor,
            session: batch.session,
            create_missing: batch.create_missing,
            repositories: HashSet::new(),
            customer,
            media,
            now: now_text(),
        };
        let results = match ctx.ensure_scope()? {
            Some((reason, field)) => changes
                .into_iter()
                .map(|c| VolumeResult {
                    volume: c.volume,
                    outcome: VolumeOutcome::Rejected {
                        reason: reason.clone(),
                        field: Some(field),
                    },
                })
                .collect(),
            None => {
                ctx.repositories = ctx.load_repositories()?;
                let mut sql = ColumnSql::default();
                // Changes are applied in Volume-ID order, the order of the volume table's key
                // index and of `audit_by_volume`: consecutive changes then touch neighbouring
                // B-tree pages, which a large batch would otherwise visit at random
                // (docs/benchmarks.md, "Round 3"). The sort is stable, so two changes of one
                // volume keep their order; the answer lists the outcomes in the order of the
                // request.
                let mut order: Vec<usize> = (0..changes.len()).collect();
                order.sort_by(|a, b| changes[*a].volume.cmp(&changes[*b].volume));
                let mut outcomes = Vec::with_capacity(changes.len());
                for i in order {
                    outcomes.push((i, ctx.apply_one(&changes[i], &mut sql)?));
                }
                outcomes.sort_unstable_by_key(|(i, _)| *i);
                changes
                    .into_iter()
                    .zip(outcomes)
                    .map(|(change, (_, outcome))| VolumeResult {
                        volume: change.volume,
                        outcome,
                    })
                    .collect()
            }
        };
        let response = ApplyResponse {
            replayed: false,
            results,
        };
        tx.prepare_cached(
            "INSERT INTO applied_batches (idempotency_key, customer, media, response, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            batch.idempotency_key,
            ctx.customer,
            ctx.media,
            serde_json::to_string(&response)?,
            ctx.now
        ])?;
        tx.commit()?;
        if let Some(path) = &self.path {
            if self.checkpoint.request(path) {
                // From now on the checkpoint thread copies the WAL after every batch; the
                // writer's own automatic checkpoint, which runs inside a COMMIT and so holds
                // up the sync, only has to bound the WAL should that thread fall behind.
                // At the default of 1,000 pages it fired inside most large batches' commits
                // anyway (docs/benchmarks.md, "Round 3").
                let _ = self.conn.query_row(
                    &format!("PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}"),
                    [],
                    |_| Ok(()),
                );
            }
        }
        Ok(response)
    }

    /// Forgets idempotency records older than `before` (RFC 3339), so the table does not grow
    /// without bound. Returns how many were removed.
    pub fn prune_applied_batches(&self, before: &str) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM applied_batches WHERE at < ?1", [before])?)
    }
}

/// Validates and canonicalises every change before anything is written.
fn check_changes(columns: &Columns, batch: &ApplyBatch) -> Result<Vec<CheckedChange>, StoreError> {
    let mut checked = Vec::with_capacity(batch.changes.len());
    for change in &batch.changes {
        let volume = volume_id(&change.volume)?;
        let mut set = Vec::with_capacity(change.set.len());
        for (field, value) in &change.set {
            let Some(index) = columns.index(*field) else {
                return Err(StoreError::Invalid {
                    volume: Some(volume),
                    field: Some(*field),
                    message: "is not a field stored on volumes".to_string(),
                });
            };
            // An empty value is no value: it clears the field.
            let value = match value.as_deref() {
                None | Some("") => None,
                Some(raw) => Some(
                    canonicalise(*field, raw)
                        .map_err(|e| invalid_value(Some(&volume), *field, e))?,
                ),
            };
            set.push((index, *field, value));
        }
        set.sort_by_key(|(index, _, _)| *index);
        checked.push(CheckedChange {
            volume,
            expected_version: change.expected_version,
            columns: set.iter().map(|(index, _, _)| *index).collect(),
            set,
        });
    }
    Ok(checked)
}

/// The response recorded for an idempotency key, marked as replayed.
fn recorded_response(
    conn: &Connection,
    key: &str,
    customer: &str,
    media: &str,
) -> Result<Option<ApplyResponse>, StoreError> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached(
            "SELECT customer, media, response FROM applied_batches WHERE idempotency_key = ?1",
        )?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((c, m, json)) = row else {
        return Ok(None);
    };
    if c != customer || m != media {
        // A conflict with what the store holds, not malformed input (409, not 400); and the
        // other scope is not named, which would tell a stranger that a customer exists.
        return Err(StoreError::Conflict(format!(
            "idempotency key {key} was already used for another scope; use a new key"
        )));
    }
    let mut response: ApplyResponse = serde_json::from_str(&json)?;
    response.replayed = true;
    Ok(Some(response))
}

impl BatchContext<'_> {
    /// Makes sure customer and media exist (creating them under `create_missing`); otherwise
    /// returns the reason every change of the batch is rejected.
    fn ensure_scope(&mut self) -> Result<Option<(String, Field)>, StoreError> {
        let customer_exists = self
            .conn
            .prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
            .exists([&self.customer])?;
        if !customer_exists {
            if !self.create_missing {
                return Ok(Some((
                    format!("customer {} does not exist", self.customer),
                    Field::Customer,
                )));
            }
            self.conn
                .prepare_cached("INSERT INTO customers (id, name) VALUES (?1, '')")?
                .execute([&self.customer])?;
        }
        let media_exists = self
            .conn
            .prepare_cached("SELECT 1 FROM media WHERE customer = ?1 AND id = ?2")?
            .exists([&self.customer, &self.media])?;
        if !media_exists {
            if !self.create_missing {
                return Ok(Some((
                    format!(
                        "media {} does not exist for customer {}",
                        self.media, self.customer
                    ),
                    Field::Media,
                )));
            }
            self.conn
                .prepare_cached(
                    "INSERT INTO media (customer, id, description) VALUES (?1, ?2, '')",
                )?
                .execute([&self.customer, &self.media])?;
        }
        Ok(None)
    }

    fn load_repositories(&self) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM repositories WHERE customer = ?1")?;
        let ids = stmt.query_map([&self.customer], |r| r.get::<_, String>(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    pub(crate) fn stored(&self, volume: &str) -> Result<Option<StoredVolume>, StoreError> {
        let sql = format!(
            "SELECT id, version, {} FROM volumes WHERE customer = ?1 AND media = ?2 AND volume = ?3",
            self.columns.list
        );
        self.read_volume(&sql, volume, self.columns.fields.len())
    }

    /// The row id, version and current values of `change`'s columns (in the order of its
    /// `set`) of an existing volume.
    fn current(
        &self,
        change: &CheckedChange,
        sql: &mut ColumnSql,
    ) -> Result<Option<StoredVolume>, StoreError> {
        let select = sql.select(self.columns, &change.columns);
        self.read_volume(select, &change.volume, change.columns.len())
    }

    /// Runs `sql` (selecting row id, version and `n` columns of one volume of the scope).
    fn read_volume(
        &self,
        sql: &str,
        volume: &str,
        n: usize,
    ) -> Result<Option<StoredVolume>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params![self.customer, self.media, volume], |r| {
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    values.push(r.get::<_, Option<String>>(i + 2)?);
                }
                Ok(StoredVolume {
                    row_id: r.get(0)?,
                    version: r.get(1)?,
                    values,
                })
            })
            .optional()?)
    }

    fn apply_one(
        &mut self,
        change: &CheckedChange,
        sql: &mut ColumnSql,
    ) -> Result<VolumeOutcome, StoreError> {
        let current = self.current(change, sql)?;
        match (&current, change.expected_version) {
            (Some(c), None) => {
                return Ok(VolumeOutcome::Conflict {
                    current_version: Some(c.version),
                })
            }
            (Some(c), Some(v)) if c.version != v => {
                return Ok(VolumeOutcome::Conflict {
                    current_version: Some(c.version),
                })
            }
            (None, Some(_)) => {
                return Ok(VolumeOutcome::Conflict {
                    current_version: None,
                })
            }
            (None, None) if !self.create_missing => {
                return Ok(VolumeOutcome::Rejected {
                    reason: format!(
                        "volume {} does not exist in {}.{}",
                        change.volume, self.customer, self.media
                    ),
                    field: Some(Field::Volume),
                })
            }
            _ => {}
        }
        for (_, field, value) in &change.set {
            if let (Field::Repository, Some(repository)) = (field, value) {
                if let Some(rejection) = self.ensure_repository(repository)? {
                    return Ok(rejection);
                }
            }
        }
        let Some(current) = current else {
            let mut values = vec![None; self.columns.fields.len()];
            for (index, _, value) in &change.set {
                values[*index].clone_from(value);
            }
            self.insert_volume(&change.volume, &values)?;
            self.audit_creation(&change.volume)?;
            for (_, field, value) in &change.set {
                if value.is_some() {
                    self.audit_field(&change.volume, *field, None, value.as_deref())?;
                }
            }
            return Ok(VolumeOutcome::Created { version: 1 });
        };
        // Only the fields whose value differs are written and audited.
        let changed: Vec<usize> = (0..change.set.len())
            .filter(|k| current.values[*k] != change.set[*k].2)
            .collect();
        if changed.is_empty() {
            return Ok(VolumeOutcome::Applied {
                version: current.version,
            });
        }
        let version = current.version + 1;
        let stored_version = i64::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("version {version} is out of range")))?;
        let columns: Vec<usize> = changed.iter().map(|k| change.set[*k].0).collect();
        let mut args: Vec<&dyn ToSql> = Vec::with_capacity(changed.len() + 3);
        args.push(&stored_version);
        args.push(&self.now);
        args.extend(changed.iter().map(|k| &change.set[*k].2 as &dyn ToSql));
        args.push(&current.row_id);
        self.conn
            .prepare_cached(sql.update(self.columns, &columns))?
            .execute(params_from_iter(args))?;
        for k in changed {
            let (_, field, value) = &change.set[k];
            self.audit_field(
                &change.volume,
                *field,
                current.values[k].as_deref(),
                value.as_deref(),
            )?;
        }
        Ok(VolumeOutcome::Applied { version })
    }

    /// Checks that the customer has `repository`, creating it under `create_missing`.
    fn ensure_repository(&mut self, repository: &str) -> Result<Option<VolumeOutcome>, StoreError> {
        if self.repositories.contains(repository) {
            return Ok(None);
        }
        if !self.create_missing {
            return Ok(Some(VolumeOutcome::Rejected {
                reason: format!(
                    "repository {repository} does not exist for customer {}",
                    self.customer
                ),
                field: Some(Field::Repository),
            }));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO repositories (customer, id, description) VALUES (?1, ?2, '')",
            )?
            .execute([&self.customer, repository])?;
        self.repositories.insert(repository.to_string());
        Ok(None)
    }

    pub(crate) fn insert_volume(
        &self,
        volume: &str,
        values: &[Option<String>],
    ) -> Result<(), StoreError> {
        let version: i64 = 1;
        let mut args: Vec<&dyn ToSql> = vec![
            &self.customer,
            &self.media,
            &volume,
            &version,
            &self.now,
            &self.now,
        ];
        args.extend(values.iter().map(|v| v as &dyn ToSql));
        self.conn
            .prepare_cached(&self.columns.insert)?
            .execute(params_from_iter(args))?;
        Ok(())
    }

    pub(crate) fn update_volume(
        &self,
        row_id: i64,
        version: u64,
        values: &[Option<String>],
    ) -> Result<(), StoreError> {
        let version = i64::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("version {version} is out of range")))?;
        let mut args: Vec<&dyn ToSql> = vec![&version, &self.now];
        args.extend(values.iter().map(|v| v as &dyn ToSql));
        args.push(&row_id);
        self.conn
            .prepare_cached(&self.columns.update)?
            .execute(params_from_iter(args))?;
        Ok(())
    }

    /// The row that records a volume's creation: field VOLUME, from nothing to its id.
    pub(crate) fn audit_creation(&self, volume: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit (session, actor, at, customer, media, volume, field, old, new)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?6)",
            )?
            .execute(params![
                self.session,
                self.actor,
                self.now,
                self.customer,
                self.media,
                volume,
                Field::Volume.name()
            ])?;
        Ok(())
    }

    /// The audit row of one written field.
    fn audit_field(
        &self,
        volume: &str,
        field: Field,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit (session, actor, at, customer, media, volume, field, old, new)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                self.session,
                self.actor,
                self.now,
                self.customer,
                self.media,
                volume,
                field.name(),
                old,
                new
            ])?;
        Ok(())
    }

    /// One audit row per field whose value changed.
    pub(crate) fn audit(
        &self,
        volume: &str,
        old: &[Option<String>],
        new: &[Option<String>],
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO audit (session, actor, at, customer, media, volume, field, old, new)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for (i, field) in self.columns.fields.iter().enumerate() {
            if old[i] != new[i] {
                stmt.execute(params![
                    self.session,
                    self.actor,
                    self.now,
                    self.customer,
                    self.media,
                    volume,
                    field.name(),
                    old[i],
                    new[i]
                ])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
