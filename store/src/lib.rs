//! The inventory store.
