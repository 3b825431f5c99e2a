//! What one request may carry. docs/openapi.json states every one of these limits, and
//! `cli/tests/e2e/openapi.rs` fails when the description and these constants disagree.
//!
//! The request head is checked here ([`check_head`], answered like every other refusal: `431`
//! with the JSON error body; hyper would answer an oversized head itself, without a body, so
//! `crate::listen` gives it room beyond these limits and the router sees the request first).
//! Bodies are read by `crate::body` with the limit of their route, checked before anything is
//! buffered: a logon, which anyone may send, can never make the server hold more than
//! [`LOGON_BODY_LIMIT`] bytes; the large limit of `volumes:apply`
//! (`ServerConfig::max_body_bytes`) applies only after the caller's token and rights are checked.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Largest logon body (API and web form). A valid one needs well under 16 KiB even with every
/// character of the longest user name and password escaped as a JSON surrogate pair.
pub const LOGON_BODY_LIMIT: usize = 16 * 1024;
/// Longest user name and password a logon looks at; longer ones fail like wrong ones (and are
/// not hashed, so a huge password cannot make the server burn CPU).
pub const MAX_USER_NAME: usize = 256;
pub const MAX_PASSWORD: usize = 1024;

/// Largest body of the session calls (begin, finish): three texts of at most
/// [`MAX_SESSION_TEXT`] characters, escaped, fit with room to spare.
pub const SESSION_BODY_LIMIT: usize = 256 * 1024;
/// Longest session text (definition hash and name, source name), in characters.
pub const MAX_SESSION_TEXT: usize = 4096;

/// Largest body of the web page's confirmation form (`POST /moves/confirm`): the most barcodes
/// a confirmation may hold (`api::moves::MAX_BARCODES`), pasted as the picking list's own CSV
/// lines and percent-encoded, fit. Read only after the user's write grant is checked.
pub const CONFIRM_FORM_BODY_LIMIT: usize = 4096 * 1024;

/// Changes in one batch.
pub const MAX_CHANGES_PER_BATCH: usize = 50_000;
/// Batches in one group (`POST /api/v1/batches`), and changes in all its batches together;
/// the store refuses a larger group too, so they live in the model.
pub use tapesync_model::{MAX_GROUP_BATCHES, MAX_GROUP_CHANGES};
/// An idempotency key is 1 to this many printable ASCII characters without spaces.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Scopes one scope-versions request may ask for, and the largest body of one: the longest
/// valid request, every id escaped as JSON surrogate pairs, fits with room to spare.
pub const MAX_SCOPES_PER_VERSIONS: usize = 10_000;
pub const SCOPE_VERSIONS_BODY_LIMIT: usize = 2048 * 1024;

/// Barcodes one reconciliation may hold (a large vault's whole holding of one customer), and
/// the largest body of one: every barcode at its longest, escaped as JSON surrogate pairs,
/// and the longest source label fit.
pub const MAX_RECONCILE_BARCODES: usize = 100_000;
pub const RECONCILE_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Sessions listed when `limit` is absent, and the most `limit` may ask for.
pub const DEFAULT_SESSION_LIST: usize = 50;
pub const MAX_SESSION_LIST: usize = 1000;

/// Most header fields a request may carry (hyper's own default, which clients already meet).
pub const MAX_HEADER_FIELDS: usize = 100;
/// Most bytes of request line and header fields together.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Refuses a request whose head exceeds [`MAX_HEADER_FIELDS`] or [`MAX_HEAD_BYTES`] with 431.
pub async fn check_head(request: Request, next: Next) -> Response {
    let headers = request.headers();
    // As on the wire: `name: value\r\n` per field, after the request line.
    let head_bytes = request.uri().to_string().len()
        + headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if headers.len() > MAX_HEADER_FIELDS || head_bytes > MAX_HEAD_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request head is too large: at most {MAX_HEADER_FIELDS} header fields and \
                 {MAX_HEAD_BYTES} bytes are accepted"
            ),
        )
        .into_response();
    }
    next.run(request).await
}
