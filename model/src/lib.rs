//! The vocabulary every stage of tapesync shares.
//!
//! The compiler checks literal values against [`Field`] limits, the runtime derives and
//! canonicalises field values with them, the store enforces them again before it writes, and the
//! server validates HTTP input with them. Keeping the table in one dependency-free crate is what
//! lets "the same limits as the compiler's" be literally the same code.

pub mod api;
pub mod field;
mod strict;
pub mod table;
pub mod value;
pub mod wire;

pub use api::{ApiErrorBody, LogonRequest, LogonResponse, SessionCreated, SessionFinish};
pub use field::{Field, FieldInfo, FieldKind};
pub use table::{ScopeTable, TableError};
pub use value::{
    canonicalise, check_text, escape_controls, is_control, validate_id, validate_volume_id,
    ValueError,
};
pub use wire::*;
