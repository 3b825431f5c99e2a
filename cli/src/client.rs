//! The client side of `tapesync run --server URL --user NAME`: the password (from the
//! environment or a prompt on the terminal) and the HTTP clients' set-up — timeouts and user
//! agent. The runtime's `HttpTarget` speaks the server's API through whatever clients it is
//! given; how they behave on the network is the command line's decision.

use crate::exit;
use std::sync::Arc;
use std::time::Duration;
use tapesync_runtime::{HttpSettings, HttpTarget, Target};

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take: large scopes take a while to serialise and transfer, and a
/// hung server must still end the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// The clients of a sync over HTTP (one for the target, one per scope reader).
fn settings() -> HttpSettings {
    HttpSettings {
        clients: Arc::new(|| {
            reqwest::blocking::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .user_agent(concat!("tapesync/", env!("CARGO_PKG_VERSION")))
                .build()
        }),
        ..HttpSettings::default()
    }
}

/// Environment variable with the password for `tapesync run --server` (never a CLI argument,
/// where other users of the machine could read it).
const PASSWORD_ENV: &str = "TAPESYNC_PASSWORD";

/// The target of `tapesync run --server URL --user NAME`: a logon with the password from
/// `TAPESYNC_PASSWORD`, or from a prompt when standard input is a terminal.
pub fn open_http_target(url: &str, user: &str) -> Result<Box<dyn Target>, (u8, String)> {
    use std::io::IsTerminal;
    let password = match std::env::var(PASSWORD_ENV) {
        Ok(p) => p,
        Err(_) if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("Password for {user} at {url}: "))
                .map_err(|e| (exit::USAGE, format!("reading the password: {e}")))?
        }
        Err(_) => {
            return Err((
                exit::USAGE,
                format!("no password for {user}: set {PASSWORD_ENV} or run on a terminal"),
            ))
        }
    };
    let target = HttpTarget::connect_with(url, user, &password, settings())
        .map_err(|e| (exit::USAGE, e.to_string()))?;
    Ok(Box::new(target))
}
