//! Plan execution: record sources, field derivation, scope cache, diff, targets, statistics.
//!
//! Entry point: [`run::run`] with a [`input::LineReader`], a [`target::Target`] and an
//! [`observer::Observer`]. See docs/running.md for the behaviour users see.

pub mod apply;
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
pub use run::{definition_hash, now_or_override, run, RunError, RunOptions, RunOutcome};
pub use stats::RunStats;
pub use target::embedded::{self, EmbeddedTarget};
pub use target::http::{ClientFactory, HttpRetry, HttpSettings, HttpTarget, RoundTrips};
pub use target::retry::RetryPolicy;
pub use target::{ScopeReader, Target, TargetError};
