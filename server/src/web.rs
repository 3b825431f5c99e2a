//! The web page: server-rendered HTML, no scripts. A logon form sets a cookie holding a logon
//! token; the overview shows the customers the user may read with volume counts by media,
//! repository and scratch state, the recent sync sessions with their statistics, and a volume
//! search that leads to one volume's change history.

use crate::api::{readable_customers, visible_sessions};
use crate::auth::{self, ClientAddr, COOKIE};
use crate::body::{parse_query, read_body, BodyType};
use crate::error::ApiError;
use crate::html::{escape, page, query_value};
use crate::limits::LOGON_BODY_LIMIT;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;
use tapesync_model::{
    validate_id, validate_volume_id, AuditEntry, Field, ScopeKey, SessionOutcome, SessionRecord,
    VolumeState,
};
use tapesync_store::User;

const RECENT_SESSIONS: usize = 20;

/// Scripts, frames and foreign form targets are refused outright; the page needs none.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let mut response = (status, page(title, body)).into_response();
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

fn error_page(e: &ApiError) -> Response {
    let body = format!(
        "<h1>tapesync inventory</h1><p class=\"err\">{}</p><p><a href=\"/\">Back to the overview</a></p>",
        escape(&e.message)
    );
    with_retry_after(html(e.status, "Error", &body), e)
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

fn logon_form(message: Option<&str>) -> String {
    let mut body = String::from("<h1>tapesync inventory</h1>");
    if let Some(m) = message {
        let _ = write!(
            body,
            "<p class=\"err\" id=\"logon-error\">{}</p>",
            escape(m)
        );
    }
    body.push_str(
        "<form method=\"post\" action=\"/logon\" id=\"logon\">\
<p><label for=\"user\">User</label><input id=\"user\" name=\"user\" autocomplete=\"username\" required></p>\
<p><label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
<p><button type=\"submit\">Log on</button></p></form>",
    );
    body
}

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match index_inner(&state, &headers).await {
        Ok(r) => r,
        Err(e) => error_page(&e),
    }
}

async fn index_inner(state: &AppState, headers: &HeaderMap) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(html(StatusCode::OK, "Log on", &logon_form(None)));
    };
    let customers = readable_customers(state, &user).await?;
    let ids: Vec<String> = customers.iter().map(|c| c.id.clone()).collect();
    let counts = state
        .read(move |store| {
            ids.into_iter()
                .map(|id| Ok((id.clone(), store.volume_counts(&id)?)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let sessions = visible_sessions(state, &user, RECENT_SESSIONS).await?;

    let mut body = header_bar(&user);
    body.push_str(&search_form(""));
    body.push_str("<h2>Customers</h2>");
    if customers.is_empty() {
        body.push_str("<p id=\"no-customers\">You may not read any customer yet.</p>");
    }
    for (customer, (_, counts)) in customers.iter().zip(counts) {
        let total: u64 = counts.iter().map(|c| c.count).sum();
        let _ = write!(
            body,
            "<section class=\"customer\" id=\"customer-{id}\" data-customer=\"{id}\">\
<h3>{id} — {name}</h3><p>Media: {media}. Repositories: {repos}. Volumes: <span class=\"total\">{total}</span></p>\
<table><thead><tr><th>Media</th><th>Repository</th><th>Scratch state</th><th>Volumes</th></tr></thead><tbody>",
            id = escape(&customer.id),
            name = escape(&customer.name),
            media = list_or_none(customer.media.iter().map(|m| described(&m.id, &m.description))),
            repos = list_or_none(
                customer
                    .repositories
                    .iter()
                    .map(|r| described(&r.id, &r.description))
            ),
        );
        for c in &counts {
            let repository = c.repository.as_deref().unwrap_or("");
            let scratch = scratch_label(c.scratch);
            let _ = write!(
                body,
                "<tr data-media=\"{m}\" data-repository=\"{r}\" data-scratch=\"{s}\"><td>{m}</td><td>{rshown}</td><td>{s}</td><td class=\"n count\">{n}</td></tr>",
                m = escape(&c.media),
                r = escape(repository),
                rshown = if repository.is_empty() { "(none)".to_string() } else { escape(repository) },
                s = scratch,
                n = c.count
            );
        }
        body.push_str("</tbody></table></section>");
    }
    body.push_str("<h2>Recent sync sessions</h2>");
    body.push_str(&sessions_table(&sessions));
    Ok(html(StatusCode::OK, "Inventory", &body))
}

fn described(id: &str, description: &str) -> String {
    if description.is_empty() {
        escape(id)
    } else {
        format!("{} ({})", escape(id), escape(description))
    }
}

fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn scratch_label(s: Option<bool>) -> &'static str {
    match s {
        Some(true) => "scratch",
        Some(false) => "active",
        None => "unknown",
    }
}

fn header_bar(user: &User) -> String {
    format!(
        "<header><h1><a href=\"/\">tapesync inventory</a></h1><div>Logged on as <strong id=\"user-name\">{}</strong>{} \
<form class=\"inline\" method=\"post\" action=\"/logout\"><button type=\"submit\">Log off</button></form></div></header>",
        escape(&user.name),
        if user.is_admin { " (administrator)" } else { "" }
    )
}

fn search_form(volume: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/volume\" id=\"search\"><label for=\"volume\">Find volume</label>\
<input id=\"volume\" name=\"volume\" value=\"{}\" maxlength=\"10\" required> <button type=\"submit\">Search</button></form>",
        escape(volume)
    )
}

fn outcome_label(o: SessionOutcome) -> &'static str {
    match o {
        SessionOutcome::Running => "running",
        SessionOutcome::Completed => "completed",
        SessionOutcome::DryRun => "dry run",
        SessionOutcome::Failed => "failed",
        SessionOutcome::Abandoned => "abandoned",
    }
}

fn sessions_table(sessions: &[SessionRecord]) -> String {
    if sessions.is_empty() {
        return "<p id=\"no-sessions\">No sync sessions yet.</p>".into();
    }
    let mut out = String::from(
        "<table id=\"sessions\"><thead><tr><th>Session</th><th>User</th><th>Started</th><th>Finished</th><th>Outcome</th>\
<th>Definition</th><th>Source</th><th>Records read</th><th>Rejected</th><th>Unchanged</th><th>Updated</th><th>Added</th>\
<th>Conflicts</th><th>Scope downloads</th><th>Apply batches</th><th>Elapsed ms</th></tr></thead><tbody>",
    );
    for s in sessions {
        let _ = write!(
            out,
            "<tr data-session=\"{}\"><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            s.id,
            s.id,
            escape(&s.user),
            escape(&s.started_at),
            escape(s.finished_at.as_deref().unwrap_or("")),
            outcome_label(s.outcome),
            escape(&s.definition_name),
            escape(&s.source_name),
        );
        match &s.statistics {
            Some(st) => {
                for (class, n) in [
                    ("records-read", st.records_read),
                    ("rejected", st.records_rejected),
                    ("unchanged", st.volumes_unchanged),
                    ("updated", st.volumes_updated),
                    ("added", st.volumes_added),
                    ("conflicts", st.conflicts),
                    ("scope-downloads", st.scope_downloads),
                    ("apply-batches", st.apply_batches),
                    ("elapsed", st.elapsed_ms),
                ] {
                    let _ = write!(out, "<td class=\"n {class}\">{n}</td>");
                }
            }
            None => out.push_str("<td colspan=\"9\">no statistics recorded</td>"),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The logon form: both fields, nothing else (as docs/openapi.json describes it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogonForm {
    user: String,
    password: String,
}

/// Refuses a form POST that a browser sent on behalf of another site (login CSRF: a foreign
/// page posting the attacker's credentials, so the victim works in the attacker's session; or
/// logging the victim off). Browsers mark such requests: `Sec-Fetch-Site` (every current
/// browser), else `Origin`, which must name this server's own host (the `Host` header, or
/// `X-Forwarded-Host` from a proxy — a cross-site form cannot set either). A request with
/// neither header is no browser's cross-site form, and is let through (scripts, old clients).
fn same_origin_form(headers: &HeaderMap) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refused = || {
        ApiError::forbidden(
            "this form was posted from another site; open the inventory's own page and log on there",
        )
    };
    if let Some(site) = header("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = header("origin") else {
        return Ok(());
    };
    // `scheme://host[:port]`; the scheme is left out of the comparison because a TLS proxy in
    // front talks plain HTTP to the server.
    let Some((_, authority)) = origin.split_once("://") else {
        return Err(refused());
    };
    let ours = [header("host"), header("x-forwarded-host")];
    if ours
        .iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(authority))
    {
        Ok(())
    } else {
        Err(refused())
    }
}

pub async fn logon(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = same_origin_form(&headers) {
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
            return html(
                StatusCode::BAD_REQUEST,
                "Log on",
                &logon_form(Some(&message)),
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
            with_retry_after(html(e.status, "Log on", &logon_form(Some(&e.message))), &e)
        }
        Err(e) => error_page(&e),
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = same_origin_form(&headers) {
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
    match volume_inner(&state, &headers, query.as_deref()).await {
        Ok(r) => r,
        Err(e) => error_page(&e),
    }
}

/// Finds the volume in every scope the user may read (or the one scope named), and shows the
/// state and change history of a single match, or the list of matches to pick from.
async fn volume_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(html(
            StatusCode::UNAUTHORIZED,
            "Log on",
            &logon_form(Some("Log on to see the inventory.")),
        ));
    };
    let q: VolumeQuery = parse_query(query)?;
    let mut body = header_bar(&user);
    body.push_str(&search_form(&q.volume));
    let volume = match validate_volume_id(q.volume.trim()) {
        Ok(v) => v,
        Err(e) => {
            let _ = write!(body, "<p class=\"err\">{}</p>", escape(&e.to_string()));
            return Ok(html(StatusCode::BAD_REQUEST, "Volume", &body));
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
            let _ = write!(
                body,
                "<p class=\"err\" id=\"not-found\">No volume {} in the customers you may read.</p>",
                escape(&volume)
            );
            Ok(html(StatusCode::NOT_FOUND, "Volume", &body))
        }
        [(scope, state_found)] => {
            let (s, v) = (scope.clone(), volume.clone());
            let history = state
                .read(move |store| store.volume_history(&s, &v))
                .await?;
            body.push_str(&volume_details(scope, state_found, &history));
            Ok(html(StatusCode::OK, &format!("Volume {volume}"), &body))
        }
        many => {
            let _ = write!(
                body,
                "<p>Volume {} exists in several scopes:</p><ul id=\"matches\">",
                escape(&volume)
            );
            for (scope, _) in many {
                let _ = write!(
                    body,
                    "<li><a href=\"/volume?customer={}&amp;media={}&amp;volume={}\">{} {} {}</a></li>",
                    query_value(&scope.customer),
                    query_value(&scope.media),
                    query_value(&volume),
                    escape(&scope.customer),
                    escape(&scope.media),
                    escape(&volume)
                );
            }
            body.push_str("</ul>");
            Ok(html(StatusCode::OK, &format!("Volume {volume}"), &body))
        }
    }
}

fn volume_details(scope: &ScopeKey, volume: &VolumeState, history: &[AuditEntry]) -> String {
    let mut out = format!(
        "<h2 id=\"volume-title\">Volume {} <small>customer {}, media {}, version <span id=\"volume-version\">{}</span></small></h2>\
<table id=\"volume-fields\"><thead><tr><th>Field</th><th>Value</th></tr></thead><tbody>",
        escape(&volume.volume),
        escape(&scope.customer),
        escape(&scope.media),
        volume.version
    );
    for (field, value) in &volume.fields {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&field.to_string()),
            escape(value)
        );
    }
    out.push_str("</tbody></table><h3>Change history</h3>");
    if history.is_empty() {
        out.push_str("<p id=\"no-history\">No recorded changes.</p>");
        return out;
    }
    out.push_str(
        "<table id=\"history\"><thead><tr><th>When</th><th>User</th><th>Session</th><th>Field</th><th>Old</th><th>New</th></tr></thead><tbody>",
    );
    for e in history {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.at),
            escape(&e.user),
            e.session.map(|s| s.to_string()).unwrap_or_default(),
            escape(&e.field.to_string()),
            escape(e.old.as_deref().unwrap_or("")),
            escape(e.new.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table>");
    out
}
