//! The database schema: numbered, forward-only migrations and the mapping of stored volume
//! fields onto columns of `volumes`.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Opening a store applies the
//! missing ones in a single transaction, so a store is never left between two versions; a
//! store from a newer tapesync (higher number than known here) is refused rather than guessed at.

use crate::error::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use tapesync_model::Field;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only; never edit a released step.
const MIGRATIONS: &[&str] = &[
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
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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
        // PRAGMA takes no parameters; the value is our own constant.
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    }
    tx.commit()?;
    Ok(())
}

/// The column of `volumes` holding a stored field; `None` for fields that are not stored.
///
/// The match is exhaustive on purpose: a field added to the model fails to compile here until
/// someone decides where it is stored (and writes the migration that adds its column).
pub fn column(field: Field) -> Option<&'static str> {
    Some(match field {
        Field::Customer | Field::Media | Field::Volume | Field::RepositoryDesc | Field::User(_) => {
            return None
        }
        Field::Repository => "repository",
        Field::Slot => "slot",
        Field::Description => "description",
        Field::DataCluster => "datacluster",
        Field::Container => "container",
        Field::System => "system",
        Field::MoveDate => "movedate",
        Field::WriteTime => "writetime",
        Field::Encrypted => "encrypted",
        Field::Scratch => "scratch",
        Field::ExpiryDate => "expirydate",
        Field::Generation => "generation",
        Field::Hidden => "hidden",
        Field::HomeRepository => "homerepository",
        Field::HomeSlot => "homeslot",
        Field::InitialRepository => "initialrepository",
        Field::MountTime => "mounttime",
        Field::MoveLock => "movelock",
        Field::QualityCheck => "qualitycheck",
        Field::ReadTime => "readtime",
        Field::Stage => "stage",
        Field::StockId => "stockid",
        Field::Usage => "usage",
        Field::UsageCount => "usagecount",
    })
}

/// Stored fields in the fixed order every volume query selects them in.
pub(crate) struct Columns {
    pub fields: Vec<Field>,
    /// The column of each of `fields`.
    pub names: Vec<&'static str>,
    /// `repository, slot, …` in the order of `fields`.
    pub list: String,
    /// Inserts a volume: customer, media, volume, version, created_at, updated_at, fields….
    pub insert: String,
    /// Rewrites a volume's fields: version, updated_at, fields…, then the row id.
    pub update: String,
}

impl Columns {
    pub fn new() -> Columns {
        let fields: Vec<Field> = Field::stored().filter(|f| column(*f).is_some()).collect();
        let names: Vec<&'static str> = fields.iter().filter_map(|f| column(*f)).collect();
        let list = names.join(", ");
        let n = fields.len();
        let insert = format!(
            "INSERT INTO volumes (customer, media, volume, version, created_at, updated_at, {list}) \
             VALUES ({})",
            (1..=n + 6)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let sets = fields
            .iter()
            .filter_map(|f| column(*f))
            .enumerate()
            .map(|(i, c)| format!("{c} = ?{}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let update = format!(
            "UPDATE volumes SET version = ?1, updated_at = ?2, {sets} WHERE id = ?{}",
            n + 3
        );
        Columns {
            fields,
            names,
            list,
            insert,
            update,
        }
    }

    /// Position of a field among the selected columns.
    pub fn index(&self, field: Field) -> Option<usize> {
        self.fields.iter().position(|f| *f == field)
    }
}
