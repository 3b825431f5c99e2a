//! Pending moves of a customer: the picking and distribution lists (`GET …/moves`) and their
//! confirmation.

use super::require_role;
use crate::auth::Caller;
use crate::body::parse_query;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::Deserialize;
use tapesync_model::{validate_id, Field};
use tapesync_store::{PendingMove, Role, User};

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
