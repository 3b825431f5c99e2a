//! A sync: a compiled plan run over a backup product's report against an inventory.
//!
//! Entry point: [`run()`] with a [`read::input::LineReader`] (from [`OpenInput`]), a
//! [`Target`] and an [`Observer`]. The modules follow the records:
//!
//! 1. [`read`] — the report's bytes as lines ([`read::input`]), cut into records by the source
//!    of the plan's format, on a thread of their own ([`read::ReadAhead`]);
//! 2. [`derive`](mod@derive) — which records count ([`derive::select`]), and what each says about one
//!    volume: fields extracted, translated, dates read and rules applied, canonical values;
//! 3. [`spill`] — the derived records grouped by scope in a temporary file;
//! 4. [`scope`] — each scope's table from the inventory, downloaded ahead
//!    ([`scope::prefetch`]), and the [`scope::diff`] of the records against it;
//! 5. [`apply`] — the changes sent in atomic, idempotent batches;
//! 6. [`target`] — the seam to the inventory: [`EmbeddedTarget`] (the store in-process) and
//!    [`HttpTarget`] (the server), retried while unavailable ([`target::retry`]);
//!
//! [`run`](mod@run) drives the two passes (1–3, then 4–5 scope by scope); [`stats`] counts
//! what happened ([`RunStats`]) and [`observer`] tells the caller while it happens.
//! docs/architecture.md draws the whole pipeline; docs/running.md is what users see.

pub mod apply;
mod cache_file;
pub mod derive;
pub mod observer;
pub mod read;
pub mod run;
pub mod scope;
pub mod spill;
pub mod stats;
pub mod target;
#[cfg(test)]
mod testutil;

pub use derive::{Derived, Deriver, SyncRecord};
pub use observer::{Collector, Observer};
pub use read::input::{InputSource, OpenInput};
pub use run::{
    definition_hash, now_or_override, read_records, run, RunError, RunOptions, RunOutcome,
};
pub use stats::RunStats;
pub use target::embedded::{self, EmbeddedTarget};
pub use target::http::{
    server_url, ClientFactory, HttpRetry, HttpSettings, HttpTarget, RoundTrips,
};
pub use target::retry::RetryPolicy;
pub use target::{ScopeReader, Target, TargetError};
