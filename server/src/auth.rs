//! Who is calling: logon (password → token, throttled), and the token check every other API
//! request passes through.
//!
//! A logon takes the same steps whether the name is a user or not, and whether the password
//! is right or wrong, until the answer: count the attempt in the store's throttle (refused
//! while the user-and-address pair or the address is locked), read the credentials (a decoy
//! hash for an unknown name), check the password under a permit of the server's limited
//! password checks and on a blocking thread of its own — holding no store connection, so a
//! burst of logons cannot starve other requests — and only for a right password take the
//! attempt back and issue a token.
//!
//! The one shortcut: a password this server verified for the same user, against the same
//! stored hash, within `ServerConfig::remember_logons_secs` is recognised without a second
//! argon2 run (`tapesync_store::VerifiedPasswords`; docs/server.md, "Remembered logons").
//! Everything else — the throttle count before, the store read, the take-back and the token
//! after — is the same, and a wrong password or an unknown name always takes the full check.

use crate::error::ApiError;
use crate::state::{AppState, Counters};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::net::{IpAddr, SocketAddr};
use tapesync_store::{Admission, Credentials, Role, User};

/// Name of the web page's session cookie (it holds a logon token).
pub const COOKIE: &str = "tapesync_token";

/// Longest user name / password looked at; longer ones fail like wrong ones (and are not hashed,
/// so a huge password cannot make the server burn CPU).
const MAX_NAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

/// The authenticated user of an API request (bearer token in `Authorization`).
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| ApiError::unauthorised("authentication required: bearer token"))?;
        match user_for_token(state, token).await? {
            Some(user) => Ok(Caller(user)),
            None => Err(ApiError::unauthorised(
                "token unknown or expired; log on again",
            )),
        }
    }
}

/// The client's address, when the server was started with connection info: the peer, or
/// behind a trusted proxy the client it forwarded for (see `forwarded.rs`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientAddr, Self::Rejection> {
        // Absent when the router is used without `into_make_service_with_connect_info`.
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ConnectInfo(a)| a.ip());
        let proxies = &state.config().trusted_proxies;
        Ok(ClientAddr(
            peer.map(|peer| proxies.client(peer, &parts.headers)),
        ))
    }
}

pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// The web page's token, from its cookie. Only the page's routes accept it: the API takes
/// bearer tokens only, so a foreign site cannot ride on the cookie to change the inventory.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|t| !t.is_empty())
}

pub async fn user_for_token(state: &AppState, token: String) -> Result<Option<User>, ApiError> {
    if token.len() > MAX_PASSWORD {
        return Ok(None);
    }
    let user = state
        .read(move |store| store.user_for_token(&token))
        .await?;
    if let Some(user) = &user {
        crate::request_log::record_user(&user.name);
    }
    Ok(user)
}

/// A successful logon.
#[derive(Debug, Clone)]
pub struct Logon {
    pub user: User,
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Checks the password (unless the attempt is throttled) and issues a token. Wrong user and
/// wrong password give the same answer after the same work.
pub async fn logon(
    state: &AppState,
    name: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<Logon, ApiError> {
    let policy = state.config().throttle.clone();
    let (n, p) = (name.to_string(), policy.clone());
    let admission = state
        .write(move |store| store.begin_logon(&n, address, &p))
        .await?;
    let attempt = match admission {
        Admission::Admitted(attempt) => attempt,
        Admission::Refused { retry_after } => {
            Counters::bump(&state.counters().logons_throttled);
            return Err(ApiError::too_many_requests(
                retry_after.as_secs_f64().ceil() as u64,
            ));
        }
    };
    // Over-long input fails like a wrong password, without hashing: a huge password must
    // not make the server burn CPU. (Its length, not whether the user exists, decides.)
    let verified = if name.len() > MAX_NAME || password.len() > MAX_PASSWORD {
        None
    } else {
        let n = name.to_string();
        let credentials = state.read(move |store| store.credentials(&n)).await?;
        let remembered = state.verified_passwords();
        match remembered.recall(name, &credentials, password) {
            Some(user) => {
                Counters::bump(&state.counters().logons_remembered);
                Some(user)
            }
            None => {
                let user = check_password(state, credentials.clone(), password.to_string()).await?;
                if user.is_some() {
                    remembered.remember(name, &credentials, password);
                }
                user
            }
        }
    };
    let Some(user) = verified else {
        Counters::bump(&state.counters().logons_failed);
        return Err(ApiError::unauthorised("wrong user name or password"));
    };
    crate::request_log::record_user(&user.name);
    let ttl = state.config().token_ttl_secs;
    let for_token = user.clone();
    let token = state
        .write(move |store| {
            store.finish_logon(&attempt, true, &policy)?;
            store.create_token(&for_token, ttl)
        })
        .await?;
    Counters::bump(&state.counters().logons);
    let expires_at = chrono::Utc::now()
        + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX / 1000));
    Ok(Logon {
        user,
        token,
        expires_at,
    })
}

/// Checks a password under a permit of the server's password checks, on a blocking thread,
/// holding no store connection.
async fn check_password(
    state: &AppState,
    credentials: Credentials,
    password: String,
) -> Result<Option<User>, ApiError> {
    let _permit = state
        .password_checks()
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    Counters::bump(&state.counters().password_checks);
    tokio::task::spawn_blocking(move || credentials.verify(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// The caller's role on `customer`; `None` when it has no grant (the caller must then see
/// 404, exactly as for a customer that does not exist).
pub async fn role_on(
    state: &AppState,
    user: &User,
    customer: &str,
) -> Result<Option<Role>, ApiError> {
    let (user, customer) = (user.clone(), customer.to_string());
    state
        .read(move |store| store.role_of(&user, &customer))
        .await
}
