//! The picking and distribution lists of a customer on the web page (`/moves`): the pending
//! moves due on or before a day, one printable table per repository the volumes leave; and,
//! for a user with a write grant, the form that confirms them (`POST /moves/confirm`) and its
//! printable result.

use super::browse::readable_customer;
use super::links::query_value;
use super::{operator_form_post, or_error_page, page, page_user, refuse_logged_off};
use crate::api::moves::MAX_BARCODES;
use crate::auth;
use crate::body::{parse_query, read_body, BodyType};
use crate::error::ApiError;
use crate::limits::CONFIRM_FORM_BODY_LIMIT;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tapesync_model::CustomerDump;
use tapesync_store::{Confirmation, PendingMove, Problem, Role, User};

/// `/moves?customer=C&due=YYYY-MM-DD`; without `due`, today's (UTC) list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MovesQuery {
    #[serde(default)]
    customer: String,
    due: Option<String>,
}

pub async fn moves(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    or_error_page(moves_inner(&state, &headers, query.as_deref()).await)
}

async fn moves_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(refuse_logged_off());
    };
    let query: MovesQuery = parse_query(query)?;
    let customer = readable_customer(state, &user, &query.customer).await?;
    let due = query
        .due
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
    let (id, day) = (customer.id.clone(), due.clone());
    let moves = state
        .read(move |store| store.pending_moves(&id, Some(&day)))
        .await?;
    let may_confirm = may_confirm(state, &user, &customer.id).await?;
    let body = html! {
        (super::pages::header_bar(&user))
        (lists(&customer, &due, &moves))
        @if may_confirm && !moves.is_empty() {
            (confirm_form(&customer.id, &due, "", None))
        }
    };
    Ok(page(
        StatusCode::OK,
        &format!("Pending moves of {}", customer.id),
        body,
    ))
}

/// The day's form, then one table per repository the volumes leave and the count per
/// destination (the distribution list).
fn lists(customer: &CustomerDump, due: &str, moves: &[PendingMove]) -> Markup {
    let mut sources: Vec<&str> = moves.iter().map(|m| m.from.as_str()).collect();
    sources.dedup();
    let mut destinations: Vec<&str> = moves.iter().map(|m| m.to.as_str()).collect();
    destinations.sort_unstable();
    destinations.dedup();
    html! {
        h2 { "Pending moves of " (customer.id) ", due by " span #due { (due) } }
        form method="get" action="/moves" #moves-day {
            input type="hidden" name="customer" value=(customer.id);
            label for="due" { "Due on or before" }
            input #due-day type="date" name="due" value=(due) required;
            " " button type="submit" { "Show" }
        }
        p { a #all-moving href=(super::links::VolumeFilter { pending: Some("yes".into()), ..super::links::VolumeFilter::customer(&customer.id) }.href()) {
            "Every volume with a pending move, due any day (volume list)"
        } }
        @if moves.is_empty() {
            p #no-moves { "No volume is due to move." }
        }
        @for from in &sources {
            @let leaving: Vec<&PendingMove> = moves.iter().filter(|m| m.from == *from).collect();
            section.picking data-from=(from) {
                h3 { "Take out of " (from) " (" (leaving.len()) ")" }
                div.wide { table {
                    thead { tr { th { "Volume" } th { "Media" } th { "To" } th { "Slot" } th { "Due" } } }
                    tbody {
                        @for m in &leaving {
                            tr data-volume=(m.volume) data-to=(m.to) {
                                td { (m.volume) }
                                td { (m.media) }
                                td { (m.to) }
                                td { (m.slot.as_deref().unwrap_or("")) }
                                td { (m.move_date.as_deref().unwrap_or("now")) }
                            }
                        }
                    }
                } }
            }
        }
        @if !moves.is_empty() {
            h3 { "Going to" }
            table #distribution {
                thead { tr { th { "Repository" } th { "Volumes" } } }
                tbody {
                    @for to in &destinations {
                        tr data-to=(to) {
                            td { (to) }
                            td.n { (moves.iter().filter(|m| m.to == *to).count()) }
                        }
                    }
                }
            }
        }
    }
}

/// Whether the user may confirm the customer's moves (a write grant, or an administrator).
async fn may_confirm(state: &AppState, user: &User, customer: &str) -> Result<bool, ApiError> {
    Ok(auth::role_on(state, user, customer)
        .await?
        .is_some_and(|role| role >= Role::Write))
}

/// The form that confirms the day's moves: the barcodes scanned or pasted, one per line, or
/// the list's own CSV. `message` is what was wrong with the last try, whose text it keeps.
fn confirm_form(customer: &str, due: &str, text: &str, message: Option<&str>) -> Markup {
    html! {
        section #confirm {
            h3 { "Confirm the moves due by " (due) }
            p {
                "Scan or paste the barcodes of the volumes that were carried, one per line (or the "
                "list's CSV with a " code { "volume" } " column). Each expected volume becomes current "
                "at its destination; anything else is listed as a discrepancy and changes nothing."
            }
            @if let Some(m) = message {
                p.err #confirm-error { (m) }
            }
            form method="post" #confirm-form
                action={ "/moves/confirm?customer=" (query_value(customer)) "&due=" (query_value(due)) } {
                textarea #barcodes name="barcodes" rows="12" cols="40" required
                    autocomplete="off" spellcheck="false" { (text) }
                p { button type="submit" { "Confirm moves" } }
            }
        }
    }
}

/// `POST /moves/confirm?customer=C&due=YYYY-MM-DD`: the customer and day are the list's (in
/// the form's address, so the write grant is checked before the body is read).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmQuery {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    due: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmForm {
    barcodes: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    operator_form_post(
        &headers,
        confirm_inner(&state, &headers, query.as_deref(), body),
    )
    .await
}

async fn confirm_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(refuse_logged_off());
    };
    let query: ConfirmQuery = parse_query(query)?;
    let customer = readable_customer(state, &user, &query.customer).await?;
    if !may_confirm(state, &user, &customer.id).await? {
        return Err(ApiError::forbidden(format!(
            "you may read customer {} but not confirm its moves: that needs a write grant",
            customer.id
        )));
    }
    let due = query.due.trim().to_string();
    let body = read_body(headers, body, BodyType::Form, CONFIRM_FORM_BODY_LIMIT).await?;
    let form: ConfirmForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        ApiError::bad_request(None, format!("the confirmation form is incomplete: {e}"))
    })?;
    // Bad input changes nothing: the form comes back with the text and what to fix.
    let refuse = |message: &str| {
        let body = html! {
            (super::pages::header_bar(&user))
            h2 { "Pending moves of " (customer.id) }
            p { a href={ "/moves?customer=" (query_value(&customer.id)) "&due=" (query_value(&due)) } { "Back to the list" } }
            (confirm_form(&customer.id, &due, &form.barcodes, Some(message)))
        };
        page(StatusCode::BAD_REQUEST, "Confirmation refused", body)
    };
    let barcodes = match tapesync_store::scanned_barcodes(&form.barcodes) {
        Ok(b) => b,
        Err(e) => return Ok(refuse(&format!("{e}; nothing was confirmed"))),
    };
    if barcodes.is_empty() {
        return Ok(refuse("no barcode was given: scan or paste at least one"));
    }
    if barcodes.len() > MAX_BARCODES {
        return Ok(refuse(&format!(
            "a confirmation holds at most {MAX_BARCODES} barcodes, not {}: confirm the list in parts",
            barcodes.len()
        )));
    }
    let (actor, id, day) = (user.name.clone(), customer.id.clone(), due.clone());
    let done = state
        .write(move |store| store.confirm_moves(&actor, &id, &day, &barcodes))
        .await;
    let done = match done {
        Ok(done) => done,
        Err(e) if e.status == StatusCode::BAD_REQUEST => return Ok(refuse(&e.message)),
        Err(e) => return Err(e),
    };
    let at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let body = html! {
        (super::pages::header_bar(&user))
        (confirmation(&customer.id, &user.name, &at, &done))
    };
    Ok(page(
        StatusCode::OK,
        &format!("Moves of {} confirmed", customer.id),
        body,
    ))
}

/// The result of a confirmation, to print: who confirmed what and when, and every
/// discrepancy (none of which was accepted).
fn confirmation(customer: &str, user: &str, at: &str, done: &Confirmation) -> Markup {
    // The problem's name in the API's answer (for scripts reading the page), and for people.
    let problem = |p: Problem| match p {
        Problem::NotExpected => ("not_expected", "scanned, not expected"),
        Problem::NotScanned => ("not_scanned", "expected, not scanned"),
        Problem::Changed => ("changed", "not confirmed: changed meanwhile"),
    };
    html! {
        h2 #confirmation-title { "Moves of " (customer) " due by " (done.due) " confirmed" }
        p { "By " strong #confirmed-by { (user) } " at " span #confirmed-at { (at) } ". "
            span #confirmed-count { (done.confirmed.len()) } " confirmed, "
            span #discrepancy-count { (done.discrepancies.len()) } " discrepancies." }
        @if done.confirmed.is_empty() {
            p #none-confirmed { "No move was confirmed." }
        } @else {
            div.wide { table #confirmed {
                thead { tr { th { "Volume" } th { "Media" } th { "From" } th { "Now in" } } }
                tbody {
                    @for m in &done.confirmed {
                        tr data-volume=(m.volume) {
                            td { (m.volume) } td { (m.media) } td { (m.from) } td { (m.to) }
                        }
                    }
                }
            } }
        }
        @if done.discrepancies.is_empty() {
            p #no-discrepancies { "No discrepancies: every expected volume was scanned." }
        } @else {
            h3 { "Discrepancies (not accepted)" }
            div.wide { table #discrepancies {
                thead { tr { th { "Volume" } th { "Problem" } th { "Detail" } } }
                tbody {
                    @for d in &done.discrepancies {
                        @let (key, label) = problem(d.problem);
                        tr data-volume=(d.volume) data-problem=(key) {
                            td { (d.volume) } td { (label) } td { (d.detail) }
                        }
                    }
                }
            } }
        }
        p { a #back-to-list href={ "/moves?customer=" (query_value(customer)) "&due=" (query_value(&done.due)) } { "Back to the list" } }
    }
}
