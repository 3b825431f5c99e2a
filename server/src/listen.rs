//! Accepting connections: HTTP/1.1 over TCP with hyper, configured so that oversized request
//! heads reach the router and get the API's JSON error, and with graceful shutdown.
//!
//! `axum::serve` would do the accepting, but it cannot configure hyper. hyper answers a
//! request head it will not parse (more header fields than its table, or more bytes than its
//! read buffer) itself, with an empty `431` and no way to give it a body. So hyper gets room to
//! spare ([`HEAD_BUFFER`], [`HEADER_TABLE`]) and the router enforces the limits that clients
//! see ([`crate::limits::check_head`]) with a JSON answer. Only a head beyond hyper's room still gets
//! hyper's bodiless 431 (documented in docs/server-api.md).

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tower::ServiceExt;

/// hyper's read buffer: the largest request head it parses. Four times the head limit the
/// router enforces, and far below hyper's default (~400 KiB), so an idle connection with a
/// half-sent head holds at most this much.
pub const HEAD_BUFFER: usize = 64 * 1024;
/// Header fields hyper makes room for; the router allows [`crate::limits::MAX_HEADER_FIELDS`].
pub const HEADER_TABLE: usize = 1024;

/// Serves `app` on `listener` until `shutdown` completes, then waits for the requests in
/// flight to finish.
pub async fn serve_http1(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(HEAD_BUFFER).max_headers(HEADER_TABLE);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: the listener itself is fine, so
                    // wait a little instead of spinning (what axum::serve does as well).
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Handlers read the client address as axum's `ConnectInfo`.
        let service = app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request.map(axum::body::Body::new)
            },
        );
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!("connection from {remote} ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
