//! Reconciliations of a customer: record one (`POST …/reconciliations`: a repository and the
//! barcodes found there), list them, and read one back (its certificate). The server never
//! reads files: a client that reads a vault's inventory through a definition sends the
//! barcodes it read.

use super::moves::customer_with;
use crate::auth::Caller;
use crate::body::{parse_json, parse_query, read_body, BodyType, NoQuery};
use crate::error::ApiError;
use crate::limits::{MAX_RECONCILE_BARCODES, RECONCILE_BODY_LIMIT};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use tapesync_store::{ReconcileRequest, Reconciliation, ReconciliationSummary, Role};

/// Records a reconciliation. Needs write rights: it changes no volume, but it is an audited
/// statement about the customer's tapes that others rely on (docs/operators.md).
pub async fn record(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Reconciliation>), ApiError> {
    let customer = customer_with(&state, &user, &customer, Role::Write).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    let body = read_body(&headers, body, BodyType::Json, RECONCILE_BODY_LIMIT).await?;
    let request: ReconcileRequest = parse_json(&body)?;
    if request.barcodes.len() > MAX_RECONCILE_BARCODES {
        return Err(ApiError::bad_request(
            Some("barcodes".into()),
            format!("a reconciliation holds at most {MAX_RECONCILE_BARCODES} barcodes"),
        ));
    }
    let actor = user.name.clone();
    let done = state
        .write(move |store| store.reconcile(&actor, &customer, &request))
        .await?;
    Ok((StatusCode::CREATED, Json(done)))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<ReconciliationSummary>>, ApiError> {
    let customer = customer_with(&state, &user, &customer, Role::Read).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    let list = state
        .read(move |store| store.reconciliations(&customer))
        .await?;
    Ok(Json(list))
}

pub async fn one(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((customer, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Reconciliation>, ApiError> {
    let customer = customer_with(&state, &user, &customer, Role::Read).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    // Any other text is no reconciliation's id: the same 404 as an id that does not exist.
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let done = state
        .read(move |store| store.reconciliation(&customer, id))
        .await?;
    Ok(Json(done))
}
