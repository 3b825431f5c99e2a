//! The web page: server-rendered HTML, no scripts. A logon form sets a cookie holding a logon
//! token; the overview shows the customers the user may read with volume counts by media,
//! repository and scratch state, the recent sync sessions with their statistics, and a volume
//! search that leads to one volume's change history.

use crate::api::{readable_customers, visible_sessions};
use crate::auth::{self, ClientAddr, COOKIE};
use crate::body::{parse_query, read_body, BodyType};
use crate::error::ApiError;
use crate::limits::LOGON_BODY_LIMIT;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use tapesync_model::{validate_id, validate_volume_id, Field, ScopeKey, VolumeState};
use tapesync_store::User;

mod browse;
mod csrf;
mod links;
mod moves;
mod pages;
mod reconcile;

pub use browse::{volumes, volumes_csv};
pub use moves::{confirm as confirm_moves, moves};
pub use reconcile::{reconcile, reconciliations};

const RECENT_SESSIONS: usize = 20;

/// Scripts, frames and foreign form targets are refused outright; the page needs none.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let mut response = (status, pages::layout(title, body).into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page's answer, or the error page for what went wrong.
fn or_error_page(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|e| error_page(&e))
}

fn error_page(e: &ApiError) -> Response {
    with_retry_after(page(e.status, "Error", pages::error(&e.message)), e)
}

/// A busy store (503) or a throttled logon (429) says when to try again, as in the API.
fn with_retry_after(mut response: Response, e: &ApiError) -> Response {
    if let Some(v) = e
        .retry_after
        .and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn see_other(location: &'static str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static(location));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, c);
    }
    response
}

/// The signed-on user of a page request: from the cookie, or from an API bearer token (a
/// browser never sends one across sites, so accepting it opens nothing to forgery; it lets
/// scripts and the API's own tests read the pages with the token they already hold).
async fn page_user(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    match auth::cookie_token(headers).or_else(|| auth::bearer_token(headers)) {
        Some(token) => auth::user_for_token(state, token).await,
        None => Ok(None),
    }
}

/// A page that needs a logged-on user, asked for without one: the logon form, with 401.
fn refuse_logged_off() -> Response {
    page(
        StatusCode::UNAUTHORIZED,
        "Log on",
        pages::logon_form(Some("Log on to see the inventory.")),
    )
}

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    or_error_page(index_inner(&state, &headers).await)
}

async fn index_inner(state: &AppState, headers: &HeaderMap) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(page(StatusCode::OK, "Log on", pages::logon_form(None)));
    };
    let customers = readable_customers(state, &user).await?;
    let ids: Vec<String> = customers.iter().map(|c| c.id.clone()).collect();
    let counts = state
        .read(move |store| {
            ids.into_iter()
                .map(|id| Ok((store.volume_counts(&id)?, store.scratch_levels(Some(&id))?)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let sessions = visible_sessions(state, &user, RECENT_SESSIONS).await?;

    let body = html! {
        (pages::header_bar(&user))
        (pages::search_form(""))
        h2 { "Customers" }
        @if customers.is_empty() {
            p #no-customers { "You may not read any customer yet." }
        }
        @for (customer, (counts, levels)) in customers.iter().zip(counts) {
            (pages::customer_section(customer, &counts, &levels))
        }
        h2 { "Recent sync sessions" }
        (pages::sessions_table(&sessions))
    };
    Ok(page(StatusCode::OK, "Inventory", body))
}

/// The logon form: both fields, nothing else (as docs/openapi.json describes it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogonForm {
    user: String,
    password: String,
}

pub async fn logon(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = csrf::same_origin_form(&headers) {
        return error_page(&e);
    }
    // At most a few KiB, read before any token exists: a flood of huge forms cannot hold
    // the server's memory. Size and type errors answer JSON like every other refusal.
    let body = match read_body(&headers, body, BodyType::Form, LOGON_BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let form: LogonForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => {
            let message = format!("The logon form is incomplete: {e}");
            return page(
                StatusCode::BAD_REQUEST,
                "Log on",
                pages::logon_form(Some(&message)),
            );
        }
    };
    match auth::logon(&state, &form.user, &form.password, address).await {
        Ok(done) => {
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                done.token,
                state.config().token_ttl_secs,
                if state.config().secure_cookie {
                    "; Secure"
                } else {
                    ""
                }
            );
            see_other("/", Some(cookie))
        }
        Err(e)
            if e.status == StatusCode::UNAUTHORIZED
                || e.status == StatusCode::TOO_MANY_REQUESTS =>
        {
            with_retry_after(
                page(e.status, "Log on", pages::logon_form(Some(&e.message))),
                &e,
            )
        }
        Err(e) => error_page(&e),
    }
}

/// A form post of a logged-on operator (confirmation, reconciliation): refused unless it
/// comes from this server's own pages, so a foreign page cannot act in the operator's name;
/// then `handle` answers it. Size and type refusals of the body answer JSON like every other
/// body refusal; other errors are an error page.
async fn operator_form_post<F>(headers: &HeaderMap, handle: F) -> Response
where
    F: std::future::Future<Output = Result<Response, ApiError>>,
{
    if let Err(e) = csrf::same_origin_form(headers) {
        return error_page(&e);
    }
    match handle.await {
        Ok(response) => response,
        Err(e)
            if e.status == StatusCode::PAYLOAD_TOO_LARGE
                || e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE =>
        {
            e.into_response()
        }
        Err(e) => error_page(&e),
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = csrf::same_origin_form(&headers) {
        return error_page(&e);
    }
    if let Some(token) = auth::cookie_token(&headers) {
        // Best effort: the cookie is cleared either way.
        let _ = state.write(move |store| store.revoke_token(&token)).await;
    }
    see_other(
        "/",
        Some(format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        )),
    )
}

#[derive(Debug, Default, Deserialize)]
struct VolumeQuery {
    #[serde(default)]
    volume: String,
    customer: Option<String>,
    media: Option<String>,
}

pub async fn volume(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    or_error_page(volume_inner(&state, &headers, query.as_deref()).await)
}

/// Finds the volume in every scope the user may read (or the one scope named), and shows the
/// state and change history of a single match, or the list of matches to pick from.
async fn volume_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(refuse_logged_off());
    };
    let q: VolumeQuery = parse_query(query)?;
    let top = html! {
        (pages::header_bar(&user))
        (pages::search_form(&q.volume))
    };
    let volume = match validate_volume_id(q.volume.trim()) {
        Ok(v) => v,
        Err(e) => {
            let body = html! { (top) p.err { (e) } };
            return Ok(page(StatusCode::BAD_REQUEST, "Volume", body));
        }
    };
    let wanted_customer = q
        .customer
        .as_deref()
        .filter(|c| !c.is_empty())
        .and_then(|c| validate_id(Field::Customer, c).ok());
    let wanted_media = q
        .media
        .as_deref()
        .filter(|m| !m.is_empty())
        .and_then(|m| validate_id(Field::Media, m).ok());
    let scopes: Vec<ScopeKey> = readable_customers(state, &user)
        .await?
        .into_iter()
        .filter(|c| wanted_customer.as_ref().is_none_or(|w| *w == c.id))
        .flat_map(|c| {
            c.media
                .into_iter()
                .map(move |m| ScopeKey {
                    customer: c.id.clone(),
                    media: m.id,
                })
                .collect::<Vec<_>>()
        })
        .filter(|s| wanted_media.as_ref().is_none_or(|w| *w == s.media))
        .collect();
    let v = volume.clone();
    let found: Vec<(ScopeKey, VolumeState)> = state
        .read(move |store| {
            let mut found = Vec::new();
            for scope in scopes {
                if let Some(state) = store.volume(&scope, &v)? {
                    found.push((scope, state));
                }
            }
            Ok(found)
        })
        .await?;
    match found.as_slice() {
        [] => {
            let body = html! { (top) (pages::volume_not_found(&volume)) };
            Ok(page(StatusCode::NOT_FOUND, "Volume", body))
        }
        [(scope, state_found)] => {
            let (s, v) = (scope.clone(), volume.clone());
            let history = state
                .read(move |store| store.volume_history(&s, &v))
                .await?;
            let body = html! { (top) (pages::volume_details(scope, state_found, &history)) };
            Ok(page(StatusCode::OK, &format!("Volume {volume}"), body))
        }
        many => {
            let scopes: Vec<ScopeKey> = many.iter().map(|(s, _)| s.clone()).collect();
            let body = html! { (top) (pages::volume_matches(&volume, &scopes)) };
            Ok(page(StatusCode::OK, &format!("Volume {volume}"), body))
        }
    }
}
