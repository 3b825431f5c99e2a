//! The client side of `tapesync run --server URL --user NAME`: the password (from the
//! settings or a prompt on the terminal) and the HTTP clients' set-up — timeouts and user
//! agent. The runtime's `HttpTarget` speaks the server's API through whatever clients it is
//! given; how they behave on the network is the command line's decision.

use crate::exit;
use crate::settings::{self, Layers};
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

/// The target of `tapesync run --server URL --user NAME`: a logon with the password from the
/// `password` setting (TAPESYNC_PASSWORD or a private configuration file), or from a prompt
/// when standard input is a terminal. An argument carries one only in TMSS10Sync's logon
/// string (`from_flag`, `-S USER:PASSWORD@…`), which the run warns about.
pub fn open_http_target(
    url: &str,
    user: &str,
    from_flag: Option<&str>,
    layers: &Layers,
) -> Result<Box<dyn Target>, (u8, String)> {
    let password = match from_flag {
        Some(password) => password.to_string(),
        None => password(url, user, layers)?,
    };
    let target = HttpTarget::connect_with(url, user, &password, settings())
        .map_err(|e| (exit::USAGE, e.to_string()))?;
    Ok(Box::new(target))
}

/// The password of `user` at `url`: the `password` setting, or a prompt on a terminal.
pub fn password(url: &str, user: &str, layers: &Layers) -> Result<String, (u8, String)> {
    use std::io::IsTerminal;
    let from_settings = layers
        .get(&settings::PASSWORD, None)
        .map_err(|e| (exit::USAGE, e))?
        .map(|s| s.value);
    let password = match from_settings {
        Some(password) => password,
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("Password for {user} at {url}: "))
                .map_err(|e| (exit::USAGE, format!("reading the password: {e}")))?
        }
        None => {
            return Err((
                exit::USAGE,
                format!(
                    "no password for {user}: set TAPESYNC_PASSWORD, put `password` in a \
                     private configuration file, or run on a terminal"
                ),
            ))
        }
    };
    Ok(password)
}

/// A blocking HTTP client with the timeouts and user agent of every tapesync request.
pub fn http_client() -> Result<reqwest::blocking::Client, (u8, String)> {
    (settings().clients)().map_err(|e| (exit::USAGE, format!("HTTP client: {e}")))
}
