//! Why a store operation failed. Callers map these onto their own answers: the CLI onto exit
//! codes, the server onto HTTP status codes (NotFound → 404, Invalid → 400, Conflict → 409).

use tapesync_model::Field;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A named thing (customer, media, user, session, …) does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The request itself is wrong: a bad identifier or field value. Nothing was written.
    #[error("{}", invalid_message(.volume, .field, .message))]
    Invalid {
        volume: Option<String>,
        field: Option<Field>,
        message: String,
    },
    /// The thing to create exists already, or the request contradicts stored state.
    #[error("{0}")]
    Conflict(String),
    /// The database file was written by a newer tapesync (its schema version is unknown here).
    #[error("the store has schema version {found}; this tapesync knows versions up to {known}")]
    NewerSchema { found: i64, known: i64 },
    /// The database (file, or PostgreSQL schema) holds another program's tables and no
    /// tapesync store: it is left exactly as it was.
    #[error("{0} is not a tapesync store (it holds other tables); nothing was changed in it")]
    Foreign(String),
    /// Stored data that cannot be read back (damaged file or manual edits).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// Password hashing failed (out of memory, bad parameters) — not a wrong password.
    #[error("password hashing failed: {0}")]
    Password(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    /// The database cannot be reached or dropped the connection (a restart, a fail-over, a
    /// network fault). Nothing of the interrupted operation was committed unless it said so;
    /// a retry (of a batch: with the same idempotency key) is safe.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// A PostgreSQL error with the server's own message and detail, which `Display` of the
/// client's error type leaves out ("db error" alone says nothing).
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail}) [{}]", db.message(), db.code().code()),
            None => format!("{} [{}]", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}

fn invalid_message(volume: &Option<String>, field: &Option<Field>, message: &str) -> String {
    match (volume, field) {
        (Some(v), Some(f)) => format!("volume {v}, field {f}: {message}"),
        (Some(v), None) => format!("volume {v}: {message}"),
        (None, Some(f)) => format!("field {f}: {message}"),
        (None, None) => message.to_string(),
    }
}

impl StoreError {
    /// An invalid request that is not about one volume.
    pub fn invalid(field: Option<Field>, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            volume: None,
            field,
            message: message.into(),
        }
    }

    /// Whether the failure is transient and nothing was written, so that a retry may succeed:
    /// SQLite busy or locked by another writer, PostgreSQL unreachable, restarting, or
    /// aborting a transaction to resolve a deadlock or a serialisation conflict.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            StoreError::Unavailable(_) => true,
            StoreError::Postgres(e) => crate::postgres::is_transient(e),
            _ => false,
        }
    }
}

/// A value that does not fit its field, with the volume it was meant for.
pub(crate) fn invalid_value(
    volume: Option<&str>,
    field: Field,
    e: tapesync_model::ValueError,
) -> StoreError {
    StoreError::Invalid {
        volume: volume.map(str::to_string),
        field: Some(field),
        message: e.to_string(),
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}
