//! The picking and distribution lists of a customer on the web page (`/moves`): the pending
//! moves due on or before a day, one printable table per repository the volumes leave.

use super::browse::readable_customer;
use super::{or_error_page, page, page_user, refuse_logged_off};
use crate::body::parse_query;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use tapesync_model::CustomerDump;
use tapesync_store::PendingMove;

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
    let body = html! {
        (super::pages::header_bar(&user))
        (lists(&customer, &due, &moves))
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
