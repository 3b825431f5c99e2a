pub mod diff;
pub mod prefetch;
