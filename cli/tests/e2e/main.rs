//! The end-to-end tests of the `tapesync` binary, as one test binary (one link instead of one
//! per file): each module is one subject, the support modules are shared.

// The tests print freely; cli/clippy.toml's output rule is for the binary (cli/src/output.rs).
#![allow(clippy::disallowed_macros)]

mod common;
mod run_harness;
mod server_support;

mod admin;
mod check_cases;
mod check_sarif;
mod command_line;
mod examples;
mod http_groups;
mod http_table;
mod moves;
mod multi_node;
mod openapi;
mod operations;
mod output_contract;
mod package_deb;
mod reconcile;
mod run_cases;
mod run_cases_http;
mod scratch_levels;
mod server_e2e;
mod slow_clients;
mod tmss10sync;
mod web_page;
mod web_volumes;
