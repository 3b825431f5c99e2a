//! The inventory server.
