//! Definition files → typed [`plan::Plan`] plus diagnostics.
pub mod plan;
