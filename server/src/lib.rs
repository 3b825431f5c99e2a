//! The inventory server: the HTTP API (axum) over the store, logon with throttling,
//! per-customer rights, and a server-rendered web page. Several servers (nodes) may serve
//! one PostgreSQL store: everything they share — tokens, the logon throttle, idempotency
//! records — lives in the store.
//!
//! [`run`] is what `tapesync serve` calls; [`router`] builds the application for tests and
//! embedding. Routes and bodies are described in `docs/server-api.md` and `docs/openapi.json`.

mod admission;
mod api;
mod app;
mod auth;
mod body;
mod error;
mod forwarded;
pub mod limits;
mod listen;
mod metrics;
mod pool;
mod request_log;
mod state;
mod web;

pub use app::{router, run, serve, ServeOptions, ServerError, Startup};
pub use error::ApiError;
pub use forwarded::TrustedProxies;
pub use listen::ConnectionLimits;
pub use metrics::Metrics;
pub use pool::{PoolUsage, StorePool};
pub use request_log::REQUEST_ID_HEADER;
pub use state::{AppState, CountersSnapshot, ServerConfig};
pub use tapesync_store::{StoreLocation, ThrottlePolicy};
