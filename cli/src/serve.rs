//! `tapesync serve`: the inventory server (HTTP API and web page) over a store: a SQLite
//! file, or a PostgreSQL database that several servers may share.

use crate::exit;
use crate::settings::{self, Layers};
use std::process::ExitCode;
use std::time::Duration;
use tapesync_server::{
    ConnectionLimits, ServeOptions, ServerConfig, StoreLocation, ThrottlePolicy, TrustedProxies,
};

/// Environment variable with the password of the first administrator (first start only).
const ADMIN_PASSWORD_ENV: &str = "TAPESYNC_ADMIN_PASSWORD";

#[derive(clap::Args)]
pub struct Args {
    /// The inventory store: a SQLite file, or a PostgreSQL database
    /// (`postgres://user:password@host/db`); created with its schema on first start
    /// [default: tapesync.db; setting `store`, TAPESYNC_STORE]
    #[arg(long, value_name = "PATH|URL")]
    store: Option<StoreLocation>,
    /// Address to listen on. Loopback by default: put a TLS proxy in front for remote
    /// clients (see docs/server.md). Port 0 picks a free port
    /// [default: 127.0.0.1:8740; setting `serve.listen`, TAPESYNC_LISTEN]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Store connections for reads, beside the one writer connection (PostgreSQL: N + 1
    /// connections that each read and write)
    /// [default: 4; setting `serve.readers`, TAPESYNC_READERS]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    readers: Option<u16>,
    /// Lifetime of a logon token, in minutes
    /// [default: 720; setting `serve.token_minutes`, TAPESYNC_TOKEN_MINUTES]
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u64).range(1..=525_600))]
    token_minutes: Option<u64>,
    /// How long the server recognises a password it verified, for the same user and the same
    /// stored hash, without hashing it again (in its memory only; 0: always hash). See
    /// docs/server.md, "Remembered logons"
    /// [default: 720; setting `serve.remember_logons_minutes`, TAPESYNC_REMEMBER_LOGONS_MINUTES]
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u64).range(0..=525_600))]
    remember_logons_minutes: Option<u64>,
    /// Mark the web page's cookie `Secure` (when a TLS proxy is in front)
    /// [setting `serve.secure_cookie`, TAPESYNC_SECURE_COOKIE]
    #[arg(long)]
    secure_cookie: bool,
    /// A proxy (address or network, e.g. 127.0.0.1 or 10.0.0.0/8) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client; repeatable. Without it those headers are
    /// ignored
    #[arg(long = "trusted-proxy", value_name = "ADDR", value_parser = TrustedProxies::parse_one)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed logons allowed per user name and client address before the logon throttle locks
    /// that pair; an address over all names gets at least as many (docs/server-api.md,
    /// "Throttling"). Raise it only for a test run that sends many bad logons on purpose
    /// (scripts/api-fuzz)
    #[arg(long, value_name = "N", default_value_t = ThrottlePolicy::default().free_failures)]
    logon_free_failures: u32,
    /// Sync sessions one user may begin per minute on this node; more answer 429 (raise it
    /// only for a test run that begins many on purpose, as scripts/api-fuzz does)
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().session_begins_per_minute,
          value_parser = clap::value_parser!(u32).range(1..))]
    session_begins_per_minute: u32,
    /// Seconds a client has to send a whole request head, on a new connection and between
    /// requests on a kept-alive one; slower or idle connections are closed
    #[arg(long, value_name = "SECONDS", default_value_t = ConnectionLimits::default().header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Connections served at once; more wait until one closes
    #[arg(long, value_name = "N", default_value_t = ConnectionLimits::default().max_connections,
          value_parser = clap::value_parser!(usize))]
    max_connections: usize,
    /// Seconds that requests in flight get to finish after SIGTERM or SIGINT before the
    /// server closes the remaining connections and exits
    #[arg(long, value_name = "SECONDS", default_value_t = ConnectionLimits::default().shutdown_grace.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace: u64,
}

/// The flags merged with the environment and the configuration file.
struct Resolved {
    store: StoreLocation,
    listen: String,
    readers: u16,
    token_minutes: u64,
    remember_logons_minutes: u64,
    secure_cookie: bool,
    trusted_proxies: Vec<ipnet::IpNet>,
    logon_free_failures: u32,
    connections: ConnectionLimits,
    session_begins_per_minute: u32,
}

fn resolve(args: Args, layers: &Layers) -> Result<Resolved, String> {
    Ok(Resolved {
        store: layers.value(&settings::STORE, args.store)?.value,
        listen: layers.value(&settings::LISTEN, args.listen)?.value,
        readers: layers.value(&settings::READERS, args.readers)?.value,
        token_minutes: layers
            .value(&settings::TOKEN_MINUTES, args.token_minutes)?
            .value,
        remember_logons_minutes: layers
            .value(
                &settings::REMEMBER_LOGONS_MINUTES,
                args.remember_logons_minutes,
            )?
            .value,
        secure_cookie: layers
            .value(&settings::SECURE_COOKIE, args.secure_cookie.then_some(true))?
            .value,
        trusted_proxies: args.trusted_proxies,
        logon_free_failures: args.logon_free_failures,
        session_begins_per_minute: args.session_begins_per_minute,
        connections: ConnectionLimits {
            header_timeout: Duration::from_secs(args.header_timeout),
            max_connections: args.max_connections.max(1),
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
        },
    })
}

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    crate::allocator::for_server();
    let args = match resolve(args, &context.layers) {
        Ok(resolved) => resolved,
        Err(e) => {
            eoutln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
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
            remember_logons_secs: args.remember_logons_minutes * 60,
            secure_cookie: args.secure_cookie,
            trusted_proxies: TrustedProxies::new(args.trusted_proxies.clone()),
            throttle: ThrottlePolicy {
                free_failures: args.logon_free_failures,
                free_failures_per_address: args
                    .logon_free_failures
                    .max(ThrottlePolicy::default().free_failures_per_address),
                ..ThrottlePolicy::default()
            },
            session_begins_per_minute: args.session_begins_per_minute,
            ..ServerConfig::default()
        },
        connections: args.connections,
    };
    // Never the password of a database URL.
    let store = args.store.redacted();
    let result = tapesync_server::run(options, |startup| {
        // The first line is the address: scripts and tests read the port from it.
        crate::outln!("listening on http://{}", startup.address);
        crate::outln!("store: {store}");
        if let Some(password) = &startup.generated_admin_password {
            crate::outln!(
                "created the administrator `admin` with password: {password}\n\
                 (shown only this once; change it with `tapesync admin --store {store} user passwd admin`)"
            );
        }
        crate::output::flush();
    });
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eoutln!("tapesync serve: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}
