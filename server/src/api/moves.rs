//! Pending moves of a customer: the picking and distribution lists (`GET …/moves`) and their
//! confirmation.

use super::require_role;
use crate::auth::Caller;
use crate::body::{parse_json, parse_query, read_body, BodyType, NoQuery};
use crate::error::ApiError;
use crate::limits::SESSION_BODY_LIMIT;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use tapesync_model::{validate_id, Field};
use tapesync_store::{Confirmation, PendingMove, Role, User};

/// The body of `…/moves:confirm`: the day whose list was worked and the barcodes scanned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub due: String,
    pub barcodes: Vec<String>,
}

/// Most barcodes one confirmation may hold (a day's moves of a large customer fit easily).
pub const MAX_BARCODES: usize = 10_000;

/// `?due=YYYY-MM-DD`: the moves due on or before that day (all of them without it).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovesQuery {
    pub due: Option<String>,
}

/// The customer of a path, checked, and one the user holds `needed` on (else 404, or 403 for
/// a weaker role).
pub(crate) async fn customer_with(
    state: &AppState,
    user: &User,
    customer: &str,
    needed: Role,
) -> Result<String, ApiError> {
    let customer = validate_id(Field::Customer, customer)
        .map_err(|e| ApiError::bad_request(Some(Field::Customer.to_string()), e.to_string()))?;
    require_role(state, user, &customer, needed).await?;
    Ok(customer)
}

pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<PendingMove>>, ApiError> {
    let customer = customer_with(&state, &user, &customer, Role::Read).await?;
    let query: MovesQuery = parse_query(query.as_deref())?;
    let moves = state
        .read(move |store| store.pending_moves(&customer, query.due.as_deref()))
        .await?;
    Ok(Json(moves))
}

pub async fn confirm(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Confirmation>, ApiError> {
    let customer = customer_with(&state, &user, &customer, Role::Write).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    let body = read_body(&headers, body, BodyType::Json, SESSION_BODY_LIMIT).await?;
    let request: ConfirmRequest = parse_json(&body)?;
    if request.barcodes.len() > MAX_BARCODES {
        return Err(ApiError::bad_request(
            Some("barcodes".into()),
            format!("a confirmation holds at most {MAX_BARCODES} barcodes"),
        ));
    }
    let actor = user.name.clone();
    let done = state
        .write(move |store| store.confirm_moves(&actor, &customer, &request.due, &request.barcodes))
        .await?;
    Ok(Json(done))
}
