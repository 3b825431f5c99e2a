pub mod cache;
pub mod cache_loader;
pub mod cache_writer;
pub mod diff;
pub mod new_ids;
pub mod prefetch;
