//! One log line per request (target `tapesync::request`, level INFO) and the request metrics.
//!
//! Every request runs inside a `request` span with its id, method, path (never the query
//! string), client address and — once the token or password check knows it — the user name
//! ([`record_user`]). Anything logged while the request is served, an internal error above
//! all, carries the same fields, so one id finds everything about a request. Headers and
//! bodies are never logged: they hold passwords and tokens.
//!
//! The id is the client's `X-Request-Id` when it is a short plain token (a proxy's own id,
//! so that the proxy's log and this one can be joined), otherwise a new one; it is sent back
//! in `X-Request-Id` either way.

use crate::auth::ClientAddr;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const TARGET: &str = "tapesync::request";
/// Longest client-supplied id taken over.
const MAX_CLIENT_ID: usize = 64;

/// Notes the authenticated user on the current request's span (and so in its log line).
pub fn record_user(name: &str) {
    tracing::Span::current().record("user", tracing::field::display(name));
}

/// A new id: a prefix that differs between server starts and a sequence number, so ids are
/// unique across restarts without a random source.
fn new_request_id() -> String {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        // Fold the start time and the process id into 32 bits.
        (nanos as u32) ^ ((nanos >> 32) as u32) ^ std::process::id().rotate_left(16)
    });
    format!("{prefix:08x}-{:06x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The client's id if it is safe to copy into a log line and a header.
fn client_request_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let plain = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then(|| id.to_string())
}

/// The middleware around every route (`app::router`).
pub async fn observe(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = client_request_id(request.headers()).unwrap_or_else(new_request_id);
    let method = request.method().as_str().to_string();
    // The route's pattern keeps the metrics' label values few; unmatched paths share one.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let client = client.map(|ip| ip.to_string()).unwrap_or_default();
    // An ERROR-level span: it is then kept whenever errors are logged (also under `-q`), so an
    // internal error always carries the request's id; the INFO line below is filtered as usual.
    let span = tracing::error_span!(
        target: TARGET,
        "request",
        id = %id,
        method = %method,
        path = %request.uri().path(),
        client = %client,
        user = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        target: TARGET,
        parent: &span,
        status,
        latency_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        "answered"
    );
    state
        .metrics()
        .request_done(&method, &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_str(id).unwrap());
        h
    }

    #[test]
    fn a_plain_client_id_is_kept_anything_else_replaced() {
        assert_eq!(
            client_request_id(&with_id("proxy-1.a_B")).as_deref(),
            Some("proxy-1.a_B")
        );
        assert_eq!(client_request_id(&with_id("a b")), None);
        assert_eq!(client_request_id(&with_id("x=\"1\"")), None);
        assert_eq!(client_request_id(&with_id(&"a".repeat(65))), None);
        assert_eq!(client_request_id(&HeaderMap::new()), None);
    }

    #[test]
    fn new_ids_differ() {
        assert_ne!(new_request_id(), new_request_id());
    }
}
