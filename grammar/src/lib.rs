//! Syntax of .ttidef definition files.
