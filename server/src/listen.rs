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
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// hyper's read buffer: the largest request head it parses. Four times the head limit the
/// router enforces, and far below hyper's default (~400 KiB), so an idle connection with a
/// half-sent head holds at most this much.
pub const HEAD_BUFFER: usize = 64 * 1024;
/// Header fields hyper makes room for; the router allows [`crate::limits::MAX_HEADER_FIELDS`].
pub const HEADER_TABLE: usize = 1024;

/// How the accept loop treats slow, idle and numerous clients, and how long a shutdown waits
/// (docs/server.md, "Slow clients and shutdown").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must arrive whole within this time of the connection being ready for
    /// it — on a new connection and on an idle keep-alive one alike; else the connection is
    /// closed. This is also the idle timeout between requests.
    pub header_timeout: Duration,
    /// Connections served at once. Further ones wait in the listen backlog (not accepted, no
    /// memory held) until one closes.
    pub max_connections: usize,
    /// After SIGTERM/SIGINT: how long requests in flight may take to finish before the
    /// server closes the remaining connections and exits.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then waits at most
/// `limits.shutdown_grace` for the requests in flight to finish.
pub async fn serve_http1(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(HEAD_BUFFER)
        .max_headers(HEADER_TABLE)
        // hyper starts this timer as soon as it waits for a request head, so it bounds both a
        // head sent slowly and an idle keep-alive connection.
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // A slot first, then accept: beyond the bound, connections wait in the kernel's
        // backlog instead of each holding a task and buffers here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
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
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: connections still open after {} s were closed",
            limits.shutdown_grace.as_secs_f64()
        );
    }
    Ok(())
}
