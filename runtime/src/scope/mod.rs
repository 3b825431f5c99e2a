pub mod cache;
pub mod diff;
pub mod prefetch;
