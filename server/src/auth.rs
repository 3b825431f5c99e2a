//! Who is calling: logon (password → token, throttled), and the token check every other API
//! request passes through.

use crate::error::ApiError;
use crate::state::{AppState, Counters};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use tapesync_store::{Role, User};

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

/// The client's address, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<ClientAddr, Self::Rejection> {
        // Absent when the router is used without `into_make_service_with_connect_info`.
        Ok(ClientAddr(
            ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|ConnectInfo(a)| a.ip()),
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

/// Checks the password (unless the user or address is locked) and issues a token. Wrong user
/// and wrong password give the same answer.
pub async fn logon(
    state: &AppState,
    name: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<Logon, ApiError> {
    let throttle = &state.0.throttle;
    if let Some(wait) = throttle.check(name, address, Instant::now()) {
        Counters::bump(&state.counters().logons_throttled);
        return Err(ApiError::too_many_requests(wait.as_secs_f64().ceil() as u64));
    }
    let verified = if name.len() > MAX_NAME || password.len() > MAX_PASSWORD {
        None
    } else {
        let (n, p) = (name.to_string(), password.to_string());
        state
            .read(move |store| store.verify_password(&n, &p))
            .await?
    };
    let Some(user) = verified else {
        throttle.record_failure(name, address, Instant::now());
        Counters::bump(&state.counters().logons_failed);
        return Err(ApiError::unauthorised("wrong user name or password"));
    };
    throttle.record_success(name);
    crate::request_log::record_user(&user.name);
    let ttl = state.config().token_ttl_secs;
    let for_token = user.clone();
    let token = state
        .write(move |store| store.create_token(&for_token, ttl))
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
