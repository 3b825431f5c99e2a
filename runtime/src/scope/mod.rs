pub mod cache;
pub mod diff;
pub mod new_ids;
pub mod prefetch;
