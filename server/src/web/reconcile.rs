//! Reconciliations of a customer on the web page (`/reconciliations`): the recorded ones,
//! newest first, each with its printable certificate (`…&id=N`), and a form that records a
//! new one from pasted barcodes (a write grant; posted through the same-origin check).

use super::browse::readable_customer;
use super::links::query_value;
use super::{operator_form_post, or_error_page, page, page_user, refuse_logged_off};
use crate::body::{parse_query, read_body, BodyType};
use crate::error::ApiError;
use crate::limits::{MAX_RECONCILE_BARCODES, RECONCILE_BODY_LIMIT};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use tapesync_model::CustomerDump;
use tapesync_store::{ReconcileRequest, Reconciliation, ReconciliationSummary, Role, User};

/// `/reconciliations?customer=C` (the list and the form) or `…&id=N` (one certificate).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    customer: String,
    id: Option<String>,
}

/// The form: the repository, the barcodes one per line (or separated by blanks), and
/// optionally one media and a note of where the barcodes come from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileForm {
    customer: String,
    repository: String,
    #[serde(default)]
    media: String,
    barcodes: String,
    #[serde(default)]
    source: String,
}

pub async fn reconciliations(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    or_error_page(page_inner(&state, &headers, query.as_deref()).await)
}

async fn page_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(refuse_logged_off());
    };
    let query: PageQuery = parse_query(query)?;
    let customer = readable_customer(state, &user, &query.customer).await?;
    match query.id.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(id) => certificate_page(state, &user, &customer, id).await,
        None => list_page(state, &user, &customer, &ReconcileForm::default(), None).await,
    }
}

async fn certificate_page(
    state: &AppState,
    user: &User,
    customer: &CustomerDump,
    id: &str,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("customer {} has no reconciliation {id}", customer.id),
        )
    };
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let c = customer.id.clone();
    let done = state
        .read(move |store| store.reconciliation(&c, number))
        .await
        .map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                not_found()
            } else {
                e
            }
        })?;
    let body = html! {
        (super::pages::header_bar(user))
        p { a href={ "/reconciliations?customer=" (query_value(&customer.id)) } { "All reconciliations of " (customer.id) } }
        (certificate(&done))
    };
    Ok(page(
        StatusCode::OK,
        &format!("Reconciliation {} of {}", done.summary.id, customer.id),
        body,
    ))
}

/// The list of recorded reconciliations and the form (for a write grant); `problem`: why the
/// form was refused, shown above it with what was typed (status 400).
async fn list_page(
    state: &AppState,
    user: &User,
    customer: &CustomerDump,
    form: &ReconcileForm,
    problem: Option<&str>,
) -> Result<Response, ApiError> {
    let c = customer.id.clone();
    let list = state.read(move |store| store.reconciliations(&c)).await?;
    let may_record = crate::auth::role_on(state, user, &customer.id).await? >= Some(Role::Write);
    let body = html! {
        (super::pages::header_bar(user))
        h2 { "Reconciliations of " (customer.id) }
        @if may_record {
            (record_form(customer, form, problem))
        } @else {
            p #read-only { "Recording a reconciliation needs write rights on " (customer.id) "." }
        }
        h3 { "Recorded" }
        @if list.is_empty() {
            p #no-reconciliations { "No reconciliation has been recorded yet." }
        } @else {
            (summaries(&customer.id, &list))
        }
    };
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page(
        status,
        &format!("Reconciliations of {}", customer.id),
        body,
    ))
}

fn record_form(customer: &CustomerDump, form: &ReconcileForm, problem: Option<&str>) -> Markup {
    let chosen = form.repository.trim().to_ascii_uppercase();
    html! {
        form #reconcile method="post" action="/reconciliations" {
            @if let Some(problem) = problem {
                p.err #problem { (problem) }
            }
            input type="hidden" name="customer" value=(customer.id);
            p {
                label for="repository" { "Repository " }
                select #repository name="repository" required {
                    @for r in &customer.repositories {
                        option value=(r.id) selected[r.id == chosen] {
                            (r.id) @if !r.description.is_empty() { " — " (r.description) }
                        }
                    }
                }
                " "
                label for="media" { "Media " }
                select #media name="media" {
                    option value="" { "all" }
                    @for m in &customer.media {
                        option value=(m.id) selected[m.id.eq_ignore_ascii_case(form.media.trim())] { (m.id) }
                    }
                }
            }
            p {
                label for="barcodes" { "Barcodes found there (one per line, as scanned)" }
                br;
                textarea #barcodes name="barcodes" rows="12" cols="24" required { (form.barcodes) }
            }
            p {
                label for="source" { "Where they come from " }
                input #source type="text" name="source" value=(form.source) placeholder="web form" maxlength="200";
            }
            button type="submit" { "Reconcile and record" }
        }
    }
}

fn summaries(customer: &str, list: &[ReconciliationSummary]) -> Markup {
    html! {
        div.wide { table #reconciliations {
            thead { tr {
                th { "#" } th { "Date (UTC)" } th { "Repository" } th { "Media" } th { "By" }
                th { "Present" } th { "Missing" } th { "Surplus" } th { "Source" }
            } }
            tbody {
                @for s in list {
                    tr data-id=(s.id) data-clean=(s.is_clean()) {
                        td { a href={ "/reconciliations?customer=" (query_value(customer)) "&id=" (s.id) } { (s.id) } }
                        td { (s.date_text()) }
                        td { (s.repository) }
                        td { (s.media.as_deref().unwrap_or("all")) }
                        td { (s.actor) }
                        td.n { (s.counts.present) }
                        td.n.missing { (s.counts.missing) }
                        td.n.surplus { (s.counts.surplus) }
                        td { (s.source) }
                    }
                }
            }
        } }
    }
}

/// The dated certificate, printable (the page's print style drops the forms).
fn certificate(done: &Reconciliation) -> Markup {
    let s = &done.summary;
    let c = &s.counts;
    html! {
        section #certificate data-id=(s.id) data-clean=(s.is_clean()) {
            h2 { "Reconciliation certificate #" (s.id) }
            table.facts {
                tbody {
                    tr { th { "Customer" } td #customer { (s.customer) } }
                    tr { th { "Repository" } td #repository { (s.repository) } }
                    tr { th { "Media" } td { (s.media.as_deref().unwrap_or("all")) } }
                    tr { th { "Date" } td #when { (s.date_text()) } }
                    tr { th { "By" } td #actor { (s.actor) } }
                    tr { th { "Source" } td #source { (s.source) } }
                    tr { th { "Counts" } td #counts {
                        "expected " (c.expected) ", found " (c.found) ", present " (c.present)
                        ", missing " (c.missing) ", surplus " (c.surplus)
                    } }
                    tr { th { "Result" } td #result {
                        @if s.is_clean() { "Every expected volume was found, and nothing else." }
                        @else { strong { "Discrepancies: " (c.missing) " missing, " (c.surplus) " surplus." } }
                    } }
                }
            }
            h3 { "Missing: expected in " (s.repository) ", not found (" (done.missing.len()) ")" }
            (volumes("missing", &done.missing))
            h3 { "Surplus: found, not expected in " (s.repository) " (" (done.surplus.len()) ")" }
            @if !done.surplus.is_empty() {
                table #surplus {
                    thead { tr { th { "Volume" } th { "Media" } th { "Inventory" } } }
                    tbody {
                        @for v in &done.surplus {
                            tr data-volume=(v.volume) {
                                td { (v.volume) }
                                td { (v.media.as_deref().unwrap_or("-")) }
                                td { (v.whereabouts()) }
                            }
                        }
                    }
                }
            }
            h3 { "Present (" (done.present.len()) ")" }
            (volumes("present", &done.present))
        }
    }
}

fn volumes(id: &str, list: &[tapesync_store::ReconciledVolume]) -> Markup {
    html! {
        @if !list.is_empty() {
            table id=(id) {
                thead { tr { th { "Volume" } th { "Media" } } }
                tbody {
                    @for v in list {
                        tr data-volume=(v.volume) { td { (v.volume) } td { (v.media) } }
                    }
                }
            }
        }
    }
}

/// `POST /reconciliations`: records a reconciliation from the form and shows its certificate
/// (303 to it); bad input shows the form again with the message (400) and records nothing.
pub async fn reconcile(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    operator_form_post(&headers, reconcile_inner(&state, &headers, body)).await
}

async fn reconcile_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(refuse_logged_off());
    };
    // The body is read only for a logged-on user.
    let body = read_body(headers, body, BodyType::Form, RECONCILE_BODY_LIMIT).await?;
    let form: ReconcileForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        ApiError::bad_request(None, format!("the reconciliation form is incomplete: {e}"))
    })?;
    let customer = readable_customer(state, &user, &form.customer).await?;
    crate::api::moves::customer_with(state, &user, &customer.id, Role::Write).await?;
    let barcodes: Vec<String> = form
        .barcodes
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if barcodes.len() > MAX_RECONCILE_BARCODES {
        let message = format!("a reconciliation holds at most {MAX_RECONCILE_BARCODES} barcodes");
        return list_page(state, &user, &customer, &form, Some(&message)).await;
    }
    let source = match form.source.trim() {
        "" => "web form".to_string(),
        s => s.to_string(),
    };
    let media = Some(form.media.trim())
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let request = ReconcileRequest {
        repository: form.repository.trim().to_string(),
        media,
        barcodes,
        source,
    };
    let (actor, c) = (user.name.clone(), customer.id.clone());
    match state
        .write(move |store| store.reconcile(&actor, &c, &request))
        .await
    {
        Ok(done) => {
            let location = format!(
                "/reconciliations?customer={}&id={}",
                query_value(&customer.id),
                done.summary.id
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Ok(response)
        }
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            list_page(state, &user, &customer, &form, Some(&e.message)).await
        }
        Err(e) => Err(e),
    }
}
