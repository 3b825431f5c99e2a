//! What applying a batch (and importing a dump) means, written once for both backends.
//!
//! A backend opens the transaction, takes its locks and then hands its transaction to
//! [`apply_batch`] or [`import_volumes`] as a [`ScopeTx`]: a handful of reads and writes in
//! that backend's SQL. Everything else is here — the idempotency answer, the session and
//! scope checks, per-volume versions and conflicts, the order changes are applied in, which
//! fields are written and audited — so the two backends cannot drift apart.
//!
//! The plan of one scope's writes ([`ScopeWrites`]) holds at most one write per volume: a
//! volume created and then changed again in the same batch is inserted once with its final
//! values. Backends may therefore execute the writes in any grouping (SQLite statement by
//! statement, PostgreSQL as a few array-valued statements).

use crate::columns::Columns;
use crate::error::StoreError;
use crate::moves::{implied, Location};
use crate::validate::{CheckedChange, CheckedVolume};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use tapesync_model::{
    ApplyResponse, CreateIds, Field, MoveCounts, ScopeVersionStep, VolumeOutcome, VolumeResult,
};

/// One batch to apply, checked and canonical.
pub(crate) struct BatchRequest<'a> {
    pub actor: &'a str,
    pub customer: String,
    pub media: String,
    pub key: &'a str,
    pub session: Option<i64>,
    /// Volumes the scope does not hold are created.
    pub create_missing: bool,
    /// The customer, media and repositories that may be created; `None`: `create_missing`
    /// decides for them too (clients from before the field).
    pub create: Option<&'a CreateIds>,
    pub changes: Vec<CheckedChange>,
    /// RFC 3339 time of the batch (audit rows, `updated_at`, the idempotency record).
    pub now: String,
    /// [`request_digest`] of the batch, recorded with its key: a key resent with another
    /// body is a conflict, not a replay.
    pub digest: String,
}

impl BatchRequest<'_> {
    fn may_create_customer(&self) -> bool {
        self.create.map_or(self.create_missing, |c| c.customer)
    }

    fn may_create_media(&self) -> bool {
        self.create.map_or(self.create_missing, |c| c.media)
    }

    fn may_create_repository(&self, id: &str) -> bool {
        self.create.map_or(self.create_missing, |c| {
            c.repositories
                .iter()
                .any(|r| r.trim().eq_ignore_ascii_case(id))
        })
    }
}

/// SHA-256 (hex) of what a batch asks for, in its checked canonical form: `create_missing`,
/// `create` (when given), the session, and each change's volume, expected version and values by field name. Two
/// bodies with this digest are the same request (`yes` and `true`, member order, whitespace
/// do not matter); any other difference changes it. Every item is length-prefixed, so no
/// two requests encode alike.
pub(crate) fn request_digest(
    changes: &[CheckedChange],
    create_missing: bool,
    create: Option<&CreateIds>,
    session: Option<i64>,
) -> String {
    let mut hash = Sha256::new();
    let mut put = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    put(&[u8::from(create_missing)]);
    // Absent, nothing is hashed, so digests recorded before the field still match. Present,
    // it starts with an item no session can be (a session is digits or empty).
    if let Some(create) = create {
        put(b"create");
        put(&[u8::from(create.customer), u8::from(create.media)]);
        let mut repositories: Vec<&str> = create.repositories.iter().map(String::as_str).collect();
        repositories.sort_unstable();
        repositories.dedup();
        put(repositories.len().to_string().as_bytes());
        for r in repositories {
            put(r.as_bytes());
        }
    }
    put(session
        .map(|s| s.to_string())
        .unwrap_or_default()
        .as_bytes());
    put(changes.len().to_string().as_bytes());
    for change in changes {
        put(change.volume.as_bytes());
        put(change
            .expected_version
            .map(|v| v.to_string())
            .unwrap_or_default()
            .as_bytes());
        put(change.set.len().to_string().as_bytes());
        for (_, field, value) in &change.set {
            put(field.name().as_bytes());
            match value {
                Some(v) => {
                    put(&[1]);
                    put(v.as_bytes());
                }
                None => put(&[0]),
            }
        }
    }
    hex::encode(hash.finalize())
}

/// The answer recorded for an idempotency key.
pub(crate) struct RecordedBatch {
    pub customer: String,
    pub media: String,
    pub response: String,
    /// `None` for a batch recorded before digests were (schema version 3).
    pub digest: Option<String>,
}

/// A stored volume as read for a batch: its row id, version and the values of the columns
/// asked for, in the order asked.
#[derive(Debug, Clone)]
pub(crate) struct StoredVolume {
    pub row_id: i64,
    pub version: u64,
    pub values: Vec<Option<String>>,
    /// The volume's newest audit row written since schema step 9 (see [`chain_audit`]).
    pub last_audit: Option<i64>,
}

/// The reads and writes a batch needs, inside the backend's open transaction.
pub(crate) trait ScopeTx {
    fn recorded_batch(&mut self, key: &str) -> Result<Option<RecordedBatch>, StoreError>;
    fn record_batch(
        &mut self,
        key: &str,
        customer: &str,
        media: &str,
        response: &str,
        at: &str,
        digest: &str,
    ) -> Result<(), StoreError>;
    fn session_exists(&mut self, session: i64) -> Result<bool, StoreError>;
    /// Records that `session` worked on the scope (no error if it is recorded already).
    /// Records the scope and that the session was active at `now`.
    fn add_session_scope(
        &mut self,
        session: i64,
        customer: &str,
        media: &str,
        now: &str,
    ) -> Result<(), StoreError>;
    fn customer_exists(&mut self, customer: &str) -> Result<bool, StoreError>;
    fn create_customer(&mut self, customer: &str) -> Result<(), StoreError>;
    fn media_exists(&mut self, customer: &str, media: &str) -> Result<bool, StoreError>;
    fn create_media(&mut self, customer: &str, media: &str) -> Result<(), StoreError>;
    fn repository_ids(&mut self, customer: &str) -> Result<HashSet<String>, StoreError>;
    fn create_repository(&mut self, customer: &str, repository: &str) -> Result<(), StoreError>;
    /// The stored state of each of `volumes` (sorted, distinct) of the scope, with the values
    /// of `columns` (column indexes, ascending); `None` for a volume the scope does not hold.
    fn current(
        &mut self,
        customer: &str,
        media: &str,
        volumes: &[&str],
        columns: &[usize],
    ) -> Result<Vec<Option<StoredVolume>>, StoreError>;
    /// Writes the planned rows. Only [`write_scope`] calls it, so that no write of a scope's
    /// volumes can forget to move the scope's version.
    fn write_volumes(&mut self, writes: &ScopeWrites<'_>) -> Result<(), StoreError>;
    /// Ids for `n` new audit rows, ascending, each greater than every audit row's id.
    fn audit_ids(&mut self, n: usize) -> Result<Vec<i64>, StoreError>;
    /// Adds one to the counter of `(customer, media)` (creating it at 1); `media` is empty
    /// for the customer's own counter (its existence, media types and repositories).
    fn bump_version(&mut self, customer: &str, media: &str) -> Result<(), StoreError>;
    /// The scope's version: its own counter plus its customer's (0 for counters not created).
    fn scope_version(&mut self, customer: &str, media: &str) -> Result<u64, StoreError>;
}

/// Writes `writes` and moves their scope's version, in the caller's transaction: the one
/// path every write of volumes takes (batches, imports, and any future edit of volumes —
/// build a [`ScopeWrites`] and come through here). Returns whether anything was written.
pub(crate) fn write_scope(
    tx: &mut dyn ScopeTx,
    writes: &mut ScopeWrites<'_>,
) -> Result<bool, StoreError> {
    if writes.is_empty() {
        return Ok(false);
    }
    chain_audit(tx, writes)?;
    tx.write_volumes(writes)?;
    tx.bump_version(writes.customer, writes.media)?;
    Ok(true)
}

/// Gives the audit rows their ids and links each to the previous row of its volume, and each
/// written volume to its newest row: a volume's history is read by following `previous` from
/// `last_audit` (plus, for rows written before schema step 9, the index that still holds
/// them). Keeping the history findable this way costs no page beyond the volume's own row and
/// the audit table's tail, where an index by volume cost a leaf in a random place per changed
/// volume (docs/benchmarks.md, "Round 6c").
fn chain_audit(tx: &mut dyn ScopeTx, writes: &mut ScopeWrites<'_>) -> Result<(), StoreError> {
    if writes.audit.is_empty() {
        return Ok(());
    }
    let ids = tx.audit_ids(writes.audit.len())?;
    if ids.len() != writes.audit.len() {
        return Err(StoreError::Corrupt(format!(
            "asked for {} audit ids, got {}",
            writes.audit.len(),
            ids.len()
        )));
    }
    // The newest row of each volume so far: what the store holds (0: none since step 9),
    // then each row as it is chained.
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for v in &writes.inserts {
        newest.insert(v.volume.as_str(), v.last_audit.unwrap_or(0));
    }
    for v in &writes.updates {
        newest.insert(v.volume.as_str(), v.last_audit.unwrap_or(0));
    }
    for (row, id) in writes.audit.iter_mut().zip(ids) {
        let last = newest.entry(row.volume.as_str()).or_insert(0);
        row.id = id;
        row.previous = *last;
        *last = id;
    }
    // Read out per volume before the writes are changed (the map borrows their names).
    let newest_of = |volume: &str| newest.get(volume).copied().filter(|id| *id != 0);
    let inserted: Vec<Option<i64>> = writes
        .inserts
        .iter()
        .map(|v| newest_of(&v.volume))
        .collect();
    let updated: Vec<Option<i64>> = writes
        .updates
        .iter()
        .map(|v| newest_of(&v.volume))
        .collect();
    for (v, last) in writes.inserts.iter_mut().zip(inserted) {
        v.last_audit = last;
    }
    for (v, last) in writes.updates.iter_mut().zip(updated) {
        v.last_audit = last.or(v.last_audit);
    }
    Ok(())
}

/// Moves the version of every scope of `customer`, in the caller's transaction: for any write
/// that changes what a download of its scopes says beyond the volumes (the customer's
/// existence or name, a media type, a repository).
pub(crate) fn bump_customer(tx: &mut dyn ScopeTx, customer: &str) -> Result<(), StoreError> {
    tx.bump_version(customer, CUSTOMER_COUNTER)
}

/// The media of a customer's own counter in `scope_versions` (media ids are never empty).
pub(crate) const CUSTOMER_COUNTER: &str = "";

/// A volume to insert.
#[derive(Debug)]
pub(crate) struct NewVolume {
    pub volume: String,
    pub version: u64,
    /// Every column's value, in column order.
    pub values: Vec<Option<String>>,
    /// Its newest audit row (set by [`chain_audit`]).
    pub last_audit: Option<i64>,
}

/// A stored volume to rewrite: only `columns` (ascending), with `values` in their order.
#[derive(Debug)]
pub(crate) struct ChangedVolume {
    pub volume: String,
    pub row_id: i64,
    pub version: u64,
    pub columns: Vec<usize>,
    pub values: Vec<Option<String>>,
    /// Its newest audit row: as stored, then as [`chain_audit`] leaves it.
    pub last_audit: Option<i64>,
}

/// One audit row: a field of a volume went from `old` to `new`.
#[derive(Debug)]
pub(crate) struct AuditRow {
    /// Set by [`chain_audit`] (0 until then).
    pub id: i64,
    /// The volume's previous audit row, 0 for none since schema step 9 (set by [`chain_audit`]).
    pub previous: i64,
    pub volume: String,
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Everything one batch (or one chunk of an import) writes to one scope.
pub(crate) struct ScopeWrites<'a> {
    pub customer: &'a str,
    pub media: &'a str,
    pub actor: &'a str,
    pub session: Option<i64>,
    pub now: &'a str,
    /// In Volume-ID order.
    pub inserts: Vec<NewVolume>,
    /// In Volume-ID order.
    pub updates: Vec<ChangedVolume>,
    /// In the order they were made: Volume-ID order, and per volume in column order.
    pub audit: Vec<AuditRow>,
}

impl ScopeWrites<'_> {
    pub fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.audit.is_empty()
    }
}

/// A volume's state while a batch is planned: as stored, then as the batch leaves it.
struct Slot {
    /// Row id of a stored volume; `None` for one created by this batch.
    row_id: Option<i64>,
    version: u64,
    /// Values of the plan's columns (see [`Plan::columns`]).
    values: Vec<Option<String>>,
    /// Columns (positions in the plan's columns) this batch changed on a stored volume.
    dirty: Vec<bool>,
    created: bool,
    last_audit: Option<i64>,
}

/// The state of a scope's volumes while the changes are worked out, and the audit rows so far.
struct Plan<'c> {
    all: &'c Columns,
    /// The column indexes `Slot::values` hold, ascending.
    columns: Vec<usize>,
    /// Per column index, its position in `columns`.
    position: HashMap<usize, usize>,
    volumes: Vec<String>,
    slots: Vec<Option<Slot>>,
    audit: Vec<AuditRow>,
    /// Whether planning created a repository (which moved the customer's counter).
    metadata_written: bool,
    /// Fields written that no change asked for (see `moves::implied`).
    implied: BTreeSet<Field>,
    /// What the changes did to pending moves.
    moves: MoveCounts,
    locations: LocationColumns,
}

impl<'c> Plan<'c> {
    /// Reads the current state of every volume named, once.
    fn load(
        tx: &mut dyn ScopeTx,
        all: &'c Columns,
        customer: &str,
        media: &str,
        mut volumes: Vec<String>,
        columns: Vec<usize>,
    ) -> Result<Plan<'c>, StoreError> {
        volumes.sort_unstable();
        volumes.dedup();
        let names: Vec<&str> = volumes.iter().map(String::as_str).collect();
        let stored = tx.current(customer, media, &names, &columns)?;
        let slots = stored
            .into_iter()
            .map(|s| {
                s.map(|s| Slot {
                    row_id: Some(s.row_id),
                    version: s.version,
                    dirty: vec![false; s.values.len()],
                    values: s.values,
                    created: false,
                    last_audit: s.last_audit,
                })
            })
            .collect();
        let position = columns.iter().enumerate().map(|(p, c)| (*c, p)).collect();
        Ok(Plan {
            all,
            columns,
            position,
            volumes,
            slots,
            audit: Vec::new(),
            metadata_written: false,
            implied: BTreeSet::new(),
            moves: MoveCounts::default(),
            locations: LocationColumns::new(all),
        })
    }

    fn slot(&self, volume: &str) -> usize {
        self.volumes
            .binary_search_by(|v| v.as_str().cmp(volume))
            .expect("every volume of the batch was loaded")
    }

    fn audit(&mut self, volume: &str, column: usize, old: Option<String>, new: Option<String>) {
        self.audit.push(AuditRow {
            id: 0,
            previous: 0,
            volume: volume.to_string(),
            field: self.all.fields[column].name(),
            old,
            new,
        });
    }

    /// Creates a volume with `set` (column index, value) at `version`.
    fn create(&mut self, volume: &str, version: u64, set: &[(usize, Option<String>)]) {
        let i = self.slot(volume);
        let mut values = vec![None; self.columns.len()];
        for (column, value) in set {
            values[self.position[column]].clone_from(value);
        }
        self.audit.push(AuditRow {
            id: 0,
            previous: 0,
            volume: volume.to_string(),
            field: Field::Volume.name(),
            old: None,
            new: Some(volume.to_string()),
        });
        for (column, value) in set {
            if value.is_some() {
                self.audit(volume, *column, None, value.clone());
            }
        }
        self.slots[i] = Some(Slot {
            row_id: None,
            version,
            dirty: vec![false; values.len()],
            values,
            created: true,
            last_audit: None,
        });
    }

    /// Sets `set` on an existing volume; returns its version afterwards. Only values that
    /// differ are written and audited, and only then does the version go up.
    fn change(&mut self, volume: &str, set: &[(usize, Option<String>)]) -> u64 {
        let i = self.slot(volume);
        let mut changed = Vec::new();
        {
            let slot = self.slots[i].as_ref().expect("changed volumes exist");
            for (column, value) in set {
                let p = self.position[column];
                if slot.values[p] != *value {
                    changed.push((*column, p, slot.values[p].clone(), value.clone()));
                }
            }
        }
        if changed.is_empty() {
            return self.slots[i].as_ref().map_or(0, |s| s.version);
        }
        for (column, _, old, new) in &changed {
            self.audit(volume, *column, old.clone(), new.clone());
        }
        let slot = self.slots[i].as_mut().expect("changed volumes exist");
        for (_, p, _, new) in changed {
            slot.values[p] = new;
            slot.dirty[p] = true;
        }
        slot.version += 1;
        slot.version
    }

    fn current(&self, volume: &str) -> Option<&Slot> {
        self.slots[self.slot(volume)].as_ref()
    }

    /// The stored value of `column` of a volume (its columns must include it).
    fn value(&self, volume: &str, column: usize) -> Option<&str> {
        let slot = self.current(volume)?;
        slot.values[*self.position.get(&column)?].as_deref()
    }

    /// The writes the plan comes to.
    fn into_writes<'a>(
        self,
        customer: &'a str,
        media: &'a str,
        actor: &'a str,
        session: Option<i64>,
        now: &'a str,
    ) -> ScopeWrites<'a> {
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let width = self.all.len();
        for (volume, slot) in self.volumes.into_iter().zip(self.slots) {
            let Some(slot) = slot else { continue };
            if slot.created {
                let mut values = vec![None; width];
                for (p, value) in slot.values.into_iter().enumerate() {
                    values[self.columns[p]] = value;
                }
                inserts.push(NewVolume {
                    volume,
                    version: slot.version,
                    values,
                    last_audit: None,
                });
            } else if slot.dirty.iter().any(|d| *d) {
                let mut columns = Vec::new();
                let mut values = Vec::new();
                for (p, value) in slot.values.into_iter().enumerate() {
                    if slot.dirty[p] {
                        columns.push(self.columns[p]);
                        values.push(value);
                    }
                }
                updates.push(ChangedVolume {
                    volume,
                    row_id: slot.row_id.expect("stored volumes have a row id"),
                    version: slot.version,
                    columns,
                    values,
                    last_audit: slot.last_audit,
                });
            }
        }
        ScopeWrites {
            customer,
            media,
            actor,
            session,
            now,
            inserts,
            updates,
            audit: self.audit,
        }
    }
}

/// Applies one checked batch inside the backend's transaction and records its answer under
/// the idempotency key. A key recorded before answers with the recorded response
/// (`replayed: true`) and writes nothing.
pub(crate) fn apply_batch(
    tx: &mut dyn ScopeTx,
    columns: &Columns,
    request: BatchRequest<'_>,
) -> Result<ApplyResponse, StoreError> {
    let (customer, media) = (request.customer.as_str(), request.media.as_str());
    if let Some(recorded) = tx.recorded_batch(request.key)? {
        return replay(&request, recorded);
    }
    let before = tx.scope_version(customer, media)?;
    if let Some(session) = request.session {
        if !tx.session_exists(session)? {
            return Err(StoreError::invalid(
                None,
                format!("sync session {session} does not exist"),
            ));
        }
        tx.add_session_scope(session, customer, media, &request.now)?;
    }
    let mut metadata_written = false;
    let mut volumes_written = false;
    let mut response = match ensure_scope(tx, &request, &mut metadata_written)? {
        Some((reason, field)) => ApplyResponse {
            replayed: false,
            scope_version: None,
            moves: MoveCounts::default(),
            implied: Vec::new(),
            results: request
                .changes
                .into_iter()
                .map(|c| VolumeResult {
                    volume: c.volume,
                    outcome: VolumeOutcome::Rejected {
                        reason: reason.clone(),
                        field: Some(field),
                    },
                })
                .collect(),
        },
        None => {
            let (results, mut writes, moves, implied) =
                plan_changes(tx, columns, &request, &mut metadata_written)?;
            volumes_written = write_scope(tx, &mut writes)?;
            ApplyResponse {
                replayed: false,
                results,
                scope_version: None,
                moves,
                implied,
            }
        }
    };
    let after = tx.scope_version(customer, media)?;
    response.scope_version = Some(ScopeVersionStep {
        before,
        after,
        only_this_batch: !metadata_written && after == before + u64::from(volumes_written),
    });
    tx.record_batch(
        request.key,
        customer,
        media,
        &serde_json::to_string(&response)?,
        &request.now,
        &request.digest,
    )?;
    Ok(response)
}

/// Runs [`apply_batch`] for each request in order, in one open transaction (a group of one
/// is a plain batch); the answers, and whether any batch wrote (was not a replay), which is
/// when the backend must commit. An error names the batch of a group it came from; the
/// backend then drops the transaction, so nothing of the group is written.
pub(crate) fn apply_batches(
    tx: &mut dyn ScopeTx,
    columns: &Columns,
    requests: Vec<BatchRequest<'_>>,
) -> Result<(Vec<ApplyResponse>, bool), StoreError> {
    let group = requests.len() > 1;
    let mut responses = Vec::with_capacity(requests.len());
    let mut written = false;
    for (i, request) in requests.into_iter().enumerate() {
        let response = apply_batch(tx, columns, request).map_err(|e| {
            if group {
                crate::apply::in_batch(i, e)
            } else {
                e
            }
        })?;
        written |= !response.replayed;
        responses.push(response);
    }
    Ok((responses, written))
}

fn replay(
    request: &BatchRequest<'_>,
    recorded: RecordedBatch,
) -> Result<ApplyResponse, StoreError> {
    let key = request.key;
    if recorded.customer != request.customer || recorded.media != request.media {
        // A conflict with what the store holds, not malformed input (409, not 400); and the
        // other scope is not named, which would tell a stranger that a customer exists.
        return Err(StoreError::Conflict(format!(
            "idempotency key {key} was already used for another scope; use a new key"
        )));
    }
    if recorded
        .digest
        .is_some_and(|digest| digest != request.digest)
    {
        // Answering the old response would tell the client its new changes were applied.
        return Err(StoreError::Conflict(format!(
            "idempotency key {key} was already used for a different request body; a retry \
             must resend the same body, and a new batch needs a new key"
        )));
    }
    let mut response: ApplyResponse = serde_json::from_str(&recorded.response)?;
    response.replayed = true;
    Ok(response)
}

/// Makes sure customer and media exist (creating them when the batch may); otherwise
/// returns the reason every change of the batch is rejected.
fn ensure_scope(
    tx: &mut dyn ScopeTx,
    request: &BatchRequest<'_>,
    metadata_written: &mut bool,
) -> Result<Option<(String, Field)>, StoreError> {
    let (customer, media) = (request.customer.as_str(), request.media.as_str());
    if !tx.customer_exists(customer)? {
        if !request.may_create_customer() {
            return Ok(Some((
                format!("customer {customer} does not exist"),
                Field::Customer,
            )));
        }
        tx.create_customer(customer)?;
        bump_customer(tx, customer)?;
        *metadata_written = true;
    }
    if !tx.media_exists(customer, media)? {
        if !request.may_create_media() {
            return Ok(Some((
                format!("media {media} does not exist for customer {customer}"),
                Field::Media,
            )));
        }
        tx.create_media(customer, media)?;
        bump_customer(tx, customer)?;
        *metadata_written = true;
    }
    Ok(None)
}

/// Works out every change's outcome, in Volume-ID order (two changes of one volume in the
/// order they were sent): applying in key order makes consecutive writes touch neighbouring
/// pages of the volume key index and of the audit index (docs/benchmarks.md, "Round 3").
/// The answer lists the outcomes in the order of the request.
fn plan_changes<'r>(
    tx: &mut dyn ScopeTx,
    all: &Columns,
    request: &'r BatchRequest<'_>,
    metadata_written: &mut bool,
) -> Result<PlannedChanges<'r>, StoreError> {
    let (customer, media) = (request.customer.as_str(), request.media.as_str());
    let changes = &request.changes;
    let mut columns: Vec<usize> = changes
        .iter()
        .flat_map(|c| c.set.iter().map(|(i, _, _)| *i))
        .collect();
    let locations = LocationColumns::new(all);
    let moves_location = changes.iter().any(|c| {
        c.set
            .iter()
            .any(|(_, f, _)| matches!(f, Field::Repository | Field::CurrentRepository))
    });
    if moves_location {
        // What a change implies is worked out from the stored location.
        columns.extend(locations.all());
    }
    columns.sort_unstable();
    columns.dedup();
    let volumes = changes.iter().map(|c| c.volume.clone()).collect();
    let mut plan = Plan::load(tx, all, customer, media, volumes, columns)?;
    let mut repositories: Option<HashSet<String>> = None;
    let mut order: Vec<usize> = (0..changes.len()).collect();
    order.sort_by(|a, b| changes[*a].volume.cmp(&changes[*b].volume));
    let mut outcomes: Vec<Option<VolumeOutcome>> = vec![None; changes.len()];
    for i in order {
        let outcome = apply_change(tx, &mut plan, &mut repositories, request, &changes[i])?;
        outcomes[i] = Some(outcome);
    }
    let results = changes
        .iter()
        .zip(outcomes)
        .map(|(change, outcome)| VolumeResult {
            volume: change.volume.clone(),
            outcome: outcome.expect("every change has an outcome"),
        })
        .collect();
    *metadata_written |= plan.metadata_written;
    let moves = plan.moves;
    let implied = plan.implied.iter().copied().collect();
    let writes = plan.into_writes(
        customer,
        media,
        request.actor,
        request.session,
        &request.now,
    );
    Ok((results, writes, moves, implied))
}

/// The outcomes of a batch's changes, its writes, what it did to pending moves and the fields
/// it wrote without being asked.
type PlannedChanges<'r> = (Vec<VolumeResult>, ScopeWrites<'r>, MoveCounts, Vec<Field>);

/// The column indexes of the location fields.
#[derive(Clone, Copy)]
struct LocationColumns {
    target: usize,
    current: usize,
}

impl LocationColumns {
    fn new(all: &Columns) -> LocationColumns {
        let index = |f| all.index(f).expect("location fields are stored");
        LocationColumns {
            target: index(Field::Repository),
            current: index(Field::CurrentRepository),
        }
    }

    fn all(&self) -> [usize; 2] {
        [self.target, self.current]
    }

    fn column(&self, field: Field) -> usize {
        if field == Field::Repository {
            self.target
        } else {
            self.current
        }
    }
}

fn apply_change(
    tx: &mut dyn ScopeTx,
    plan: &mut Plan<'_>,
    repositories: &mut Option<HashSet<String>>,
    request: &BatchRequest<'_>,
    change: &CheckedChange,
) -> Result<VolumeOutcome, StoreError> {
    let (customer, media) = (request.customer.as_str(), request.media.as_str());
    let locations = plan.locations;
    let current = plan.current(&change.volume).map(|s| s.version);
    match (current, change.expected_version) {
        (Some(version), None) => {
            return Ok(VolumeOutcome::Conflict {
                current_version: Some(version),
            })
        }
        (Some(version), Some(expected)) if version != expected => {
            return Ok(VolumeOutcome::Conflict {
                current_version: Some(version),
            })
        }
        (None, Some(_)) => {
            return Ok(VolumeOutcome::Conflict {
                current_version: None,
            })
        }
        (None, None) if !request.create_missing => {
            return Ok(VolumeOutcome::Rejected {
                reason: format!(
                    "volume {} does not exist in {customer}.{media}",
                    change.volume
                ),
                field: Some(Field::Volume),
            })
        }
        _ => {}
    }
    for (_, field, value) in &change.set {
        if let (Field::Repository | Field::CurrentRepository, Some(repository)) = (field, value) {
            if repositories.is_none() {
                *repositories = Some(tx.repository_ids(customer)?);
            }
            let known = repositories.as_mut().expect("loaded above");
            if known.contains(repository) {
                continue;
            }
            if !request.may_create_repository(repository) {
                return Ok(VolumeOutcome::Rejected {
                    reason: format!(
                        "repository {repository} does not exist for customer {customer}"
                    ),
                    field: Some(*field),
                });
            }
            tx.create_repository(customer, repository)?;
            bump_customer(tx, customer)?;
            plan.metadata_written = true;
            known.insert(repository.clone());
        }
    }
    let mut set: Vec<(usize, Option<String>)> = change
        .set
        .iter()
        .map(|(column, _, value)| (*column, value.clone()))
        .collect();
    let sets = |field: Field| {
        change
            .set
            .iter()
            .find(|(_, f, _)| *f == field)
            .map(|(_, _, v)| v.as_deref())
    };
    let (set_target, set_current) = (sets(Field::Repository), sets(Field::CurrentRepository));
    if set_target.is_some() || set_current.is_some() {
        let before = current.map(|_| Location {
            target: plan
                .value(&change.volume, locations.target)
                .map(str::to_string),
            current: plan
                .value(&change.volume, locations.current)
                .map(str::to_string),
        });
        let implied = implied(before.as_ref(), set_target, set_current);
        plan.moves.add(&implied.moves);
        for (field, value) in implied.set {
            plan.implied.insert(field);
            set.push((locations.column(field), Some(value)));
        }
        set.sort_by_key(|(column, _)| *column);
    }
    if current.is_none() {
        plan.create(&change.volume, 1, &set);
        return Ok(VolumeOutcome::Created { version: 1 });
    }
    Ok(VolumeOutcome::Applied {
        version: plan.change(&change.volume, &set),
    })
}

/// The actor named in audit rows written by an import.
pub(crate) const IMPORT_ACTOR: &str = "import";

/// Volumes of one scope planned and written together by an import.
const IMPORT_CHUNK: usize = 1000;

/// Merges checked dump volumes into the store inside the backend's transaction: a volume the
/// scope does not hold is created at the dump's version (1 without one); a stored volume whose
/// fields differ gets the dump's fields, its version goes up by one and each changed field is
/// audited (as `import`). The customers and media must exist (the dump's own are written
/// first); a REPOSITORY must be one of the customer's.
pub(crate) fn import_volumes(
    tx: &mut dyn ScopeTx,
    all: &Columns,
    volumes: &[CheckedVolume],
    now: &str,
) -> Result<(), StoreError> {
    let every_column: Vec<usize> = (0..all.len()).collect();
    let repository = all.index(Field::Repository);
    let current = all.index(Field::CurrentRepository);
    let mut known_media: HashSet<(String, String)> = HashSet::new();
    let mut known_repositories: HashMap<String, HashSet<String>> = HashMap::new();
    let mut start = 0;
    while start < volumes.len() {
        // A run of consecutive volumes of one scope, at most IMPORT_CHUNK long.
        let first = &volumes[start];
        let mut end = start + 1;
        while end < volumes.len()
            && end - start < IMPORT_CHUNK
            && volumes[end].customer == first.customer
            && volumes[end].media == first.media
        {
            end += 1;
        }
        let chunk = &volumes[start..end];
        let (customer, media) = (first.customer.as_str(), first.media.as_str());
        let scope = (customer.to_string(), media.to_string());
        if !known_media.contains(&scope) {
            if !tx.media_exists(customer, media)? {
                return Err(StoreError::Invalid {
                    volume: Some(first.volume.clone()),
                    field: Some(Field::Media),
                    message: format!(
                        "media {media} of customer {customer} is neither in the store nor in the dump"
                    ),
                });
            }
            known_media.insert(scope);
        }
        if let Some(r) = repository {
            if !known_repositories.contains_key(customer) {
                let ids = tx.repository_ids(customer)?;
                known_repositories.insert(customer.to_string(), ids);
            }
            let ids = &known_repositories[customer];
            for v in chunk {
                let located = current.and_then(|c| v.values[c].as_ref());
                for value in v.values[r].iter().chain(located) {
                    if !ids.contains(value) {
                        return Err(StoreError::Invalid {
                            volume: Some(v.volume.clone()),
                            field: Some(Field::Repository),
                            message: format!(
                                "repository {value} of customer {customer} is neither in the store nor in the dump"
                            ),
                        });
                    }
                }
            }
        }
        let names = chunk.iter().map(|v| v.volume.clone()).collect();
        let mut plan = Plan::load(tx, all, customer, media, names, every_column.clone())?;
        for v in chunk {
            let mut set: Vec<(usize, Option<String>)> =
                v.values.iter().cloned().enumerate().collect();
            // A dump from before current locations were kept: its volumes are where they
            // should be.
            if let (Some(r), Some(c)) = (repository, current) {
                if set[c].1.is_none() {
                    set[c].1 = set[r].1.clone();
                }
            }
            if plan.current(&v.volume).is_none() {
                plan.create(&v.volume, v.version.unwrap_or(1), &set);
            } else {
                plan.change(&v.volume, &set);
            }
        }
        let mut writes = plan.into_writes(customer, media, IMPORT_ACTOR, None, now);
        write_scope(tx, &mut writes)?;
        start = end;
    }
    Ok(())
}
