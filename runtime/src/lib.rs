//! Plan execution: record sources, field derivation, scope cache, diff, targets, statistics.
pub mod target;
