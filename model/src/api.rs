//! Request and answer bodies of the inventory server's HTTP API that are not already wire
//! types of the `Target` seam. The server and `HttpTarget` share them, so the two ends cannot
//! drift apart.

use crate::wire::{SessionOutcome, SyncStatistics};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/logon`. Request bodies refuse unknown members, as docs/openapi.json says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogonRequest {
    pub user: String,
    pub password: String,
}

/// The answer to a successful logon: a bearer token for the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogonResponse {
    pub token: String,
    /// When the token stops working, RFC 3339 (UTC).
    pub expires_at: String,
    pub user: String,
    pub is_admin: bool,
}

/// The answer to `POST /api/v1/sync-sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub id: i64,
}

/// `POST /api/v1/sync-sessions/{id}/finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFinish {
    pub outcome: SessionOutcome,
    pub statistics: SyncStatistics,
}

/// Every error the API answers: a message for an operator and, for invalid input, the field
/// (or JSON path) at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
