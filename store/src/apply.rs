//! Applying a batch of volume changes: one transaction, optimistic versions, audit rows,
//! idempotency.

use crate::clock::now_text;
use crate::error::{invalid_value, StoreError};
use crate::inventory::{scope_ids, volume_id};
use crate::schema::Columns;
use crate::Store;
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashSet;
use tapesync_model::{
    canonicalise, ApplyBatch, ApplyResponse, Field, ScopeKey, VolumeOutcome, VolumeResult,
};

/// A change whose volume id and values passed validation, in canonical form.
struct CheckedChange {
    volume: String,
    expected_version: Option<u64>,
    /// (position among the stored columns, field, new value).
    set: Vec<(usize, Field, Option<String>)>,
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

/// The stored row of a volume: its row id, version and field values in column order.
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
                .iter()
                .map(|c| VolumeResult {
                    volume: c.volume.clone(),
                    outcome: VolumeOutcome::Rejected {
                        reason: reason.clone(),
                        field: Some(field),
                    },
                })
                .collect(),
            None => {
                ctx.repositories = ctx.load_repositories()?;
                let mut results = Vec::with_capacity(changes.len());
                for change in &changes {
                    results.push(VolumeResult {
                        volume: change.volume.clone(),
                        outcome: ctx.apply_one(change)?,
                    });
                }
                results
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
        checked.push(CheckedChange {
            volume,
            expected_version: change.expected_version,
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
        return Err(StoreError::invalid(
            None,
            format!("idempotency key {key} was already used for scope {c}.{m}"),
        ));
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
        let n = self.columns.fields.len();
        Ok(self
            .conn
            .prepare_cached(&sql)?
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

    fn apply_one(&mut self, change: &CheckedChange) -> Result<VolumeOutcome, StoreError> {
        let stored = self.stored(&change.volume)?;
        match (&stored, change.expected_version) {
            (Some(s), None) => {
                return Ok(VolumeOutcome::Conflict {
                    current_version: Some(s.version),
                })
            }
            (Some(s), Some(v)) if s.version != v => {
                return Ok(VolumeOutcome::Conflict {
                    current_version: Some(s.version),
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
        let n = self.columns.fields.len();
        let old = stored
            .as_ref()
            .map(|s| s.values.clone())
            .unwrap_or_else(|| vec![None; n]);
        let mut new = old.clone();
        for (index, _, value) in &change.set {
            new[*index] = value.clone();
        }
        match stored {
            None => {
                self.insert_volume(&change.volume, &new)?;
                self.audit_creation(&change.volume)?;
                self.audit(&change.volume, &old, &new)?;
                Ok(VolumeOutcome::Created { version: 1 })
            }
            Some(s) if old == new => Ok(VolumeOutcome::Applied { version: s.version }),
            Some(s) => {
                let version = s.version + 1;
                self.update_volume(s.row_id, version, &new)?;
                self.audit(&change.volume, &old, &new)?;
                Ok(VolumeOutcome::Applied { version })
            }
        }
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
