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
    /// Stored data that cannot be read back (damaged file or manual edits).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// Password hashing failed (out of memory, bad parameters) — not a wrong password.
    #[error("password hashing failed: {0}")]
    Password(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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

    /// Whether the cause is SQLite being busy or locked by another writer — worth a retry.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
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
