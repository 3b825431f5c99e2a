//! `tapesync serve`: the inventory server (HTTP API and web page) over a store file.

use crate::exit;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tapesync_server::{ServeOptions, ServerConfig};

/// Environment variable with the password of the first administrator (first start only).
const ADMIN_PASSWORD_ENV: &str = "TAPESYNC_ADMIN_PASSWORD";

#[derive(clap::Args)]
pub struct Args {
    /// The inventory store file (SQLite); created with its schema on first start
    #[arg(long, value_name = "PATH", default_value = "tapesync.db")]
    store: PathBuf,
    /// Address to listen on. Loopback by default: put a TLS proxy in front for remote
    /// clients (see docs/server.md). Port 0 picks a free port
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8740")]
    listen: String,
    /// Store connections for reads, beside the one writer connection
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    readers: u16,
    /// Lifetime of a logon token, in minutes
    #[arg(long, value_name = "MINUTES", default_value_t = 720, value_parser = clap::value_parser!(u64).range(1..=525_600))]
    token_minutes: u64,
    /// Mark the web page's cookie `Secure` (when a TLS proxy is in front)
    #[arg(long)]
    secure_cookie: bool,
}

pub fn run(args: Args) -> ExitCode {
    let admin_password = std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty());
    let options = ServeOptions {
        store: &args.store,
        listen: &args.listen,
        readers: usize::from(args.readers),
        admin_password,
        config: ServerConfig {
            token_ttl_secs: args.token_minutes * 60,
            secure_cookie: args.secure_cookie,
            ..ServerConfig::default()
        },
    };
    let store = args.store.display().to_string();
    let result = tapesync_server::run(options, |startup| {
        // The first line is the address: scripts and tests read the port from it.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{}", startup.address);
        let _ = writeln!(out, "store: {store}");
        if let Some(password) = &startup.generated_admin_password {
            let _ = writeln!(
                out,
                "created the administrator `admin` with password: {password}\n\
                 (shown only this once; change it with `tapesync admin --store {store} user passwd admin`)"
            );
        }
        let _ = out.flush();
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("tapesync serve: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}
