//! The inventory server: the HTTP API (axum) over the store, logon with throttling,
//! per-customer rights, and a server-rendered web page.
//!
//! [`run`] is what `tapesync serve` calls; [`router`] builds the application for tests and
//! embedding. Routes and bodies are described in `docs/server-api.md` and `docs/openapi.json`.

mod api;
mod app;
mod auth;
mod body;
mod error;
mod html;
pub mod limits;
mod listen;
mod pool;
mod state;
mod throttle;
mod web;

pub use app::{router, run, serve, ServeOptions, ServerError, Startup};
pub use error::ApiError;
pub use html::escape;
pub use pool::StorePool;
pub use state::{AppState, CountersSnapshot, ServerConfig};
pub use throttle::ThrottlePolicy;
