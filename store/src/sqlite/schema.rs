//! The SQLite schema: numbered, forward-only migrations, and the statement texts that read
//! and write the stored volume fields.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Opening a store applies the
//! missing ones in a single transaction, so a store is never left between two versions; a
//! store from a newer tapesync (higher number than known here) is refused rather than guessed at.
//! Step `n` here and step `n` of `postgres/schema.rs` make the same change.

use crate::columns::Columns;
use crate::error::StoreError;
use crate::SCHEMA_VERSION;
use rusqlite::{Connection, TransactionBehavior};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only; never edit a released step.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: inventory, users, sessions, audit, idempotency.
    r#"
CREATE TABLE customers (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 4),
    name        TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE media (
    customer    TEXT NOT NULL REFERENCES customers(id),
    id          TEXT NOT NULL CHECK (length(id) BETWEEN 1 AND 4),
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (customer, id)
) WITHOUT ROWID;

CREATE TABLE repositories (
    customer    TEXT NOT NULL REFERENCES customers(id),
    id          TEXT NOT NULL CHECK (length(id) BETWEEN 1 AND 4),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 20),
    PRIMARY KEY (customer, id)
) WITHOUT ROWID;

CREATE TABLE volumes (
    id                 INTEGER PRIMARY KEY,
    customer           TEXT NOT NULL,
    media              TEXT NOT NULL,
    volume             TEXT NOT NULL CHECK (length(volume) BETWEEN 2 AND 10),
    version            INTEGER NOT NULL CHECK (version >= 1),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    repository         TEXT,
    slot               TEXT,
    description        TEXT,
    datacluster        TEXT,
    container          TEXT,
    system             TEXT,
    movedate           TEXT,
    writetime          TEXT,
    encrypted          TEXT,
    scratch            TEXT,
    expirydate         TEXT,
    generation         TEXT,
    hidden             TEXT,
    homerepository     TEXT,
    homeslot           TEXT,
    initialrepository  TEXT,
    mounttime          TEXT,
    movelock           TEXT,
    qualitycheck       TEXT,
    readtime           TEXT,
    stage              TEXT,
    stockid            TEXT,
    usage              TEXT,
    usagecount         TEXT,
    FOREIGN KEY (customer, media) REFERENCES media(customer, id),
    FOREIGN KEY (customer, repository) REFERENCES repositories(customer, id)
);
-- Scope downloads read volumes of one (customer, media) in volume order straight off this index.
CREATE UNIQUE INDEX volumes_by_key ON volumes(customer, media, volume);
CREATE INDEX volumes_by_repository ON volumes(customer, repository);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    failed_logons  INTEGER NOT NULL DEFAULT 0,
    last_failed_at INTEGER,
    created_at     TEXT NOT NULL
);

-- Grants may name a customer that does not exist yet, so that a sync with --add-new can
-- create it; hence no foreign key to customers.
CREATE TABLE grants (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    customer TEXT NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (user_id, customer)
) WITHOUT ROWID;

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_by_expiry ON tokens(expires_at);

CREATE TABLE sync_sessions (
    id              INTEGER PRIMARY KEY,
    user            TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    definition_name TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    source_name     TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    statistics      TEXT
);

CREATE TABLE session_scopes (
    session  INTEGER NOT NULL REFERENCES sync_sessions(id),
    customer TEXT NOT NULL,
    media    TEXT NOT NULL,
    PRIMARY KEY (session, customer, media)
) WITHOUT ROWID;
CREATE INDEX session_scopes_by_customer ON session_scopes(customer, session);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY,
    session  INTEGER REFERENCES sync_sessions(id),
    actor    TEXT NOT NULL,
    at       TEXT NOT NULL,
    customer TEXT NOT NULL,
    media    TEXT NOT NULL,
    volume   TEXT NOT NULL,
    field    TEXT NOT NULL,
    old      TEXT,
    new      TEXT
);
CREATE INDEX audit_by_volume ON audit(customer, media, volume, id);

CREATE TABLE applied_batches (
    idempotency_key TEXT PRIMARY KEY NOT NULL,
    customer        TEXT NOT NULL,
    media           TEXT NOT NULL,
    response        TEXT NOT NULL,
    at              TEXT NOT NULL
) WITHOUT ROWID;
"#,
    // 2: logon throttle counters in the store (shared by every server node), replacing the
    // per-user failure count; old idempotency records can be pruned by time.
    r#"
CREATE TABLE logon_throttle (
    key          TEXT PRIMARY KEY NOT NULL,
    failures     INTEGER NOT NULL CHECK (failures >= 0),
    locked_until INTEGER NOT NULL,
    last_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX logon_throttle_by_last ON logon_throttle(last_at);
ALTER TABLE users DROP COLUMN failed_logons;
ALTER TABLE users DROP COLUMN last_failed_at;
CREATE INDEX applied_batches_by_time ON applied_batches(at);
"#,
    // 3: a user can be disabled (no logon, no token) without deleting it; idempotency records
    // keep a digest of their request; sessions record their last activity.
    r#"
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
-- A digest of the request recorded with its idempotency key: the same key with another body
-- is a conflict, not a replay (NULL for batches recorded before).
ALTER TABLE applied_batches ADD COLUMN request_digest TEXT;
-- When a session was last active (its start, a batch, a touched scope): a running session idle
-- too long is marked abandoned. NULL for sessions begun before (their start counts).
ALTER TABLE sync_sessions ADD COLUMN last_active_at TEXT;
CREATE INDEX sync_sessions_running ON sync_sessions(id) WHERE outcome = 'running';
"#,
    // 4: scope versions (a counter per scope, and per customer under media '') and the
    // store's identity, for clients that keep scope tables between runs.
    r#"
CREATE TABLE scope_versions (
    customer TEXT NOT NULL,
    media    TEXT NOT NULL,
    version  INTEGER NOT NULL CHECK (version >= 1),
    PRIMARY KEY (customer, media)
) WITHOUT ROWID;
CREATE TABLE store_identity (
    id TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
INSERT INTO store_identity (id) VALUES (lower(hex(randomblob(16))));
"#,
    // 5: the volume list of the web page (`Store::list_volumes`): filtered by repository or
    // scratch state and read in (media, volume) order straight off an index, one page at a
    // time. The repository index grows the list order onto its key (it still serves the
    // repository foreign key and the counts).
    r#"
DROP INDEX volumes_by_repository;
CREATE INDEX volumes_by_repository ON volumes(customer, repository, media, volume);
CREATE INDEX volumes_by_scratch ON volumes(customer, scratch, media, volume);
"#,
    // 6: minimum numbers of scratch volumes per (customer, media, repository)
    // (`tapesync admin scratch-min`; sync statistics and the web page compare the levels).
    r#"
CREATE TABLE scratch_minimums (
    customer   TEXT NOT NULL,
    media      TEXT NOT NULL,
    repository TEXT NOT NULL,
    minimum    INTEGER NOT NULL CHECK (minimum >= 0),
    PRIMARY KEY (customer, media, repository),
    FOREIGN KEY (customer, media) REFERENCES media(customer, id),
    FOREIGN KEY (customer, repository) REFERENCES repositories(customer, id)
) WITHOUT ROWID;
"#,
    // 7: where a volume is now, beside where it should be (REPOSITORY): a volume whose current
    // repository differs from its target has a pending move. Existing volumes are where they
    // should be. The picking list reads the pending moves of a customer off a partial index.
    r#"
ALTER TABLE volumes ADD COLUMN current_repository TEXT;
UPDATE volumes SET current_repository = repository;
CREATE INDEX volumes_moving ON volumes(customer, media, volume)
    WHERE current_repository <> repository;
"#,
    // 8: recorded reconciliations (`Store::reconcile`): what the inventory expected in one
    // repository against what was found there, with who and when, the counts and the three
    // lists (JSON text: present, missing, surplus), shown again as a dated certificate.
    r#"
CREATE TABLE reconciliations (
    id         INTEGER PRIMARY KEY,
    customer   TEXT NOT NULL REFERENCES customers(id),
    repository TEXT NOT NULL,
    media      TEXT,
    actor      TEXT NOT NULL,
    at         TEXT NOT NULL,
    source     TEXT NOT NULL,
    expected   INTEGER NOT NULL CHECK (expected >= 0),
    found      INTEGER NOT NULL CHECK (found >= 0),
    present    INTEGER NOT NULL CHECK (present >= 0),
    missing    INTEGER NOT NULL CHECK (missing >= 0),
    surplus    INTEGER NOT NULL CHECK (surplus >= 0),
    lists      TEXT NOT NULL,
    FOREIGN KEY (customer, repository) REFERENCES repositories(customer, id)
);
CREATE INDEX reconciliations_by_customer ON reconciliations(customer, id);
"#,
    // 9: the audit trail is found by volume through a chain instead of an index over every
    // row: each audit row names the previous row of its volume (`previous`, 0 for the first
    // one written since this step) and each volume names its newest row (`last_audit`). A
    // changed volume then dirties its own row and the audit table's tail, not also a leaf of a
    // by-volume index in a random place (docs/benchmarks.md, "Round 6c"). Rows written before
    // this step (`previous` NULL) keep an index of their own, which new rows never enter.
    r#"
ALTER TABLE volumes ADD COLUMN last_audit INTEGER;
ALTER TABLE audit ADD COLUMN previous INTEGER;
CREATE INDEX audit_before_chain ON audit(customer, media, volume, id) WHERE previous IS NULL;
DROP INDEX audit_by_volume;
"#,
];

/// Brings the database up to [`SCHEMA_VERSION`] in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // The common case (up to date) needs no write lock, so opening a connection never waits
    // for a batch another connection is applying.
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    // IMMEDIATE: two processes opening a fresh file at once must not both try to migrate;
    // the version is read again under the lock.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS.iter().skip(found.max(0) as usize) {
        tx.execute_batch(step)?;
    }
    if found != SCHEMA_VERSION {
        // PRAGMA takes no parameters; the values are our own constants. The application id
        // marks the file as a tapesync store (see `refuse_foreign`).
        tx.execute_batch(&format!(
            "PRAGMA user_version = {SCHEMA_VERSION}; PRAGMA application_id = {};",
            super::APPLICATION_ID
        ))?;
    }
    tx.commit()?;
    Ok(())
}

/// Statement texts over the stored volume columns: the fixed ones built once per
/// connection, those for a set of columns once per distinct set (see `apply.rs`).
pub(crate) struct VolumeSql {
    pub columns: Columns,
    /// Inserts a volume: customer, media, volume, version, created_at, updated_at, last_audit,
    /// fields….
    pub insert: String,
    /// `SELECT id, version, last_audit, <columns> FROM volumes WHERE <scope and volume>`, per
    /// column set.
    select: RefCell<HashMap<Vec<usize>, Arc<str>>>,
    /// `UPDATE volumes SET version, updated_at, last_audit, <columns> WHERE id`, per column set.
    update: RefCell<HashMap<Vec<usize>, Arc<str>>>,
}

impl VolumeSql {
    pub fn new() -> VolumeSql {
        let columns = Columns::new();
        let insert = format!(
            "INSERT INTO volumes \
             (customer, media, volume, version, created_at, updated_at, last_audit, {}) \
             VALUES ({})",
            columns.list,
            (1..=columns.len() + 7)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        VolumeSql {
            columns,
            insert,
            select: RefCell::default(),
            update: RefCell::default(),
        }
    }

    /// Reads row id, version, last audit row and `set` of one volume (parameters: customer,
    /// media, volume).
    pub fn select(&self, set: &[usize]) -> Arc<str> {
        cached_text(&self.select, set, || {
            format!(
                "SELECT id, version, last_audit{} FROM volumes WHERE customer = ?1 AND media = ?2 AND volume = ?3",
                set.iter()
                    .map(|i| format!(", {}", self.columns.names[*i]))
                    .collect::<String>()
            )
        })
    }

    /// `UPDATE volumes SET version = ?1, updated_at = ?2, last_audit = ?3, <columns> = ?4…
    /// WHERE id = ?last`.
    pub fn update(&self, set: &[usize]) -> Arc<str> {
        cached_text(&self.update, set, || {
            let assignments = set
                .iter()
                .enumerate()
                .map(|(n, i)| format!(", {} = ?{}", self.columns.names[*i], n + 4))
                .collect::<String>();
            format!(
                "UPDATE volumes SET version = ?1, updated_at = ?2, last_audit = ?3{assignments} \
                 WHERE id = ?{}",
                set.len() + 4
            )
        })
    }
}

/// The text for `set` from `texts`, built by `build` the first time: a batch asks for the
/// UPDATE of every changed volume, so the common case (a set seen before) neither allocates
/// a key nor copies the text.
fn cached_text(
    texts: &RefCell<HashMap<Vec<usize>, Arc<str>>>,
    set: &[usize],
    build: impl FnOnce() -> String,
) -> Arc<str> {
    if let Some(text) = texts.borrow().get(set) {
        return Arc::clone(text);
    }
    let text: Arc<str> = build().into();
    texts.borrow_mut().insert(set.to_vec(), Arc::clone(&text));
    text
}
