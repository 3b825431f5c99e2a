//! The routes, the middleware around them, and starting the server.

use crate::error::ApiError;
use crate::listen::ConnectionLimits;
use crate::pool::StorePool;
use crate::state::{AppState, ServerConfig};
use crate::{api, limits, listen, metrics, request_log, web};
use axum::http::header;
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use tapesync_store::{StoreError, StoreLocation};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

/// The API routes, relative to `/api/v1`.
fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/logon", post(api::logon))
        .route("/customers", get(api::customers))
        .route(
            "/customers/{customer}/volume-counts",
            get(api::volume_counts),
        )
        .route(
            "/customers/{customer}/scratch-levels",
            get(api::scratch_levels),
        )
        .route("/customers/{customer}/moves", get(api::moves::list))
        .route(
            "/customers/{customer}/moves:confirm",
            post(api::moves::confirm),
        )
        .route(
            "/customers/{customer}/reconciliations",
            get(api::reconcile::list).post(api::reconcile::record),
        )
        .route(
            "/customers/{customer}/reconciliations/{reconciliation}",
            get(api::reconcile::one),
        )
        .route(
            "/customers/{customer}/media/{media}/volumes",
            get(api::download_scope),
        )
        .route(
            "/customers/{customer}/media/{media}/table",
            get(api::download_table),
        )
        // A literal segment: axum 0.8 writes parameters as `{name}`, so `:` is plain text.
        .route(
            "/customers/{customer}/media/{media}/volumes:apply",
            post(api::apply),
        )
        .route(
            "/customers/{customer}/media/{media}/volumes/{volume}",
            get(api::volume),
        )
        .route(
            "/customers/{customer}/media/{media}/volumes/{volume}/history",
            get(api::volume_history),
        )
        .route(
            "/sync-sessions",
            get(api::list_sessions).post(api::begin_session),
        )
        .route("/sync-sessions/{id}/finish", post(api::finish_session))
        .route("/batches", post(api::apply_group))
        .route("/scope-versions", post(api::scope_versions))
        .route("/server-statistics", get(api::server_statistics))
        .fallback(api::not_found)
}

/// Answers from axum and tower-http themselves (404 of an unknown route, 405, 415 of an
/// unknown content encoding, unreadable path) come as plain text or empty; the server promises
/// JSON `{error}` for every failure, so they are rewritten here. The web page's own HTML
/// answers (its logon form, its error page) are left as they are.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let done =
        content_type.starts_with("application/json") || content_type.starts_with("text/html");
    if !(status.is_client_error() || status.is_server_error()) || done {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    let mut rewritten = ApiError::new(status, message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// The whole application: API, web page, health check, with request decompression and
/// response compression (gzip; large scope downloads shrink a lot). Body size limits are per
/// route, in the handlers (`crate::body`); the request head's in `limits::check_head`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/logon", post(web::logon))
        .route("/logout", post(web::logout))
        .route("/volume", get(web::volume))
        .route("/volumes", get(web::volumes))
        .route("/volumes.csv", get(web::volumes_csv))
        .route("/moves", get(web::moves))
        .route(
            "/reconciliations",
            get(web::reconciliations).post(web::reconcile),
        )
        .route("/moves/confirm", post(web::confirm_moves))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::scrape))
        .nest("/api/v1", api_routes())
        .fallback(api::not_found)
        .layer(RequestDecompressionLayer::new())
        .layer(from_fn(limits::check_head))
        .layer(map_response(json_errors))
        // Fastest gzip: scope downloads compress several-fold at any level, and the default
        // level cost the server more CPU than serving the scope (docs/benchmarks.md).
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        // Outermost, so that the logged latency is the whole answer's.
        .layer(from_fn_with_state(state.clone(), request_log::observe))
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the store {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What `serve` reports once it listens.
#[derive(Debug, Clone)]
pub struct Startup {
    pub address: SocketAddr,
    /// The password of the `admin` user if this start created it with a generated one (shown
    /// once; it is not stored anywhere in plain text).
    pub generated_admin_password: Option<String>,
}

pub struct ServeOptions<'a> {
    /// A SQLite file or a PostgreSQL URL (shown only without its password).
    pub store: &'a StoreLocation,
    pub listen: &'a str,
    /// Reader connections beside the one writer (PostgreSQL: connections in all, less one).
    pub readers: usize,
    /// Password for the first `admin` (from `TAPESYNC_ADMIN_PASSWORD`); generated when `None`.
    pub admin_password: Option<String>,
    pub config: ServerConfig,
    /// Header and idle timeout, connection bound, shutdown grace.
    pub connections: ConnectionLimits,
}

/// Listens, opens the store, makes sure an administrator exists, calls `on_ready`, and serves
/// until SIGINT or SIGTERM.
///
/// The port is bound first: a start that cannot listen must change nothing — above all not
/// create the first administrator with a generated password that it would never print.
pub fn run(options: ServeOptions<'_>, on_ready: impl FnOnce(&Startup)) -> Result<(), ServerError> {
    let bind_err = |source| ServerError::Bind {
        address: options.listen.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(options.listen).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let store_err = |source| ServerError::Store {
        path: options.store.redacted(),
        source,
    };
    let pool = StorePool::open(options.store, options.readers).map_err(store_err)?;
    let admin_password = options.admin_password.clone();
    let generated = pool
        .write(|store| store.ensure_admin(admin_password.as_deref()))
        .map_err(store_err)?;
    let state = AppState::new(pool, options.config);
    let connections = options.connections;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // A blocking thread (store calls, password checks) that has been idle this long ends,
        // and the allocator memory it kept with it (tokio's default is 10 s; a thread costs
        // microseconds to start again; docs/server.md, "Memory").
        .thread_keep_alive(crate::admission::BLOCKING_THREAD_KEEP_ALIVE)
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        on_ready(&Startup {
            address: listener.local_addr()?,
            generated_admin_password: generated,
        });
        tokio::spawn(prune_periodically(state.clone()));
        let app = router(state);
        listen::serve_http1(listener, app, connections, shutdown_signal()).await?;
        Ok::<(), ServerError>(())
    })?;
    // Store work still running on blocking threads (a batch, a scope download) gets the same
    // grace; a shutdown never waits longer than that for it.
    runtime.shutdown_timeout(connections.shutdown_grace);
    Ok(())
}

/// Serves `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve_http1(
        listener,
        router(state),
        ConnectionLimits::default(),
        shutdown,
    )
    .await
}

/// How often a server prunes the store (expired tokens, old idempotency records, idle
/// throttle counters: `Store::prune`). Every node does; the deletes are idempotent, so nodes
/// sharing a PostgreSQL store only share the work.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

async fn prune_periodically(state: AppState) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let policy = state.config().throttle.clone();
        match state.write(move |store| store.prune(&policy)).await {
            Ok(report) => tracing::info!(
                expired_tokens = report.expired_tokens,
                idempotency_records = report.idempotency_records,
                throttle_counters = report.throttle_counters,
                "pruned the store"
            ),
            // The next round tries again; a busy store is no reason to stop serving.
            Err(e) => tracing::warn!("pruning the store failed: {}", e.message),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
