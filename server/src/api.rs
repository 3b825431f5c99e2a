//! The JSON API (`/api/v1/...`). Every customer-scoped handler first resolves the caller's role
//! on the customer; no role means 404, the same answer as for a customer that does not exist.

use crate::auth::{self, Caller, ClientAddr};
use crate::body::{parse_json, parse_query, read_body, BodyType, NoQuery};
use crate::error::ApiError;
use crate::limits::{
    DEFAULT_SESSION_LIST, LOGON_BODY_LIMIT, MAX_CHANGES_PER_BATCH, MAX_IDEMPOTENCY_KEY,
    MAX_SCOPES_PER_VERSIONS, MAX_SESSION_LIST, MAX_SESSION_TEXT, SCOPE_VERSIONS_BODY_LIMIT,
    SESSION_BODY_LIMIT,
};
use crate::state::{AppState, Counters, CountersSnapshot};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;
#[cfg(doc)]
use tapesync_model::ScopeTable;
use tapesync_model::{
    validate_id, validate_volume_id, ApplyBatch, ApplyResponse, AuditEntry, BatchGroup,
    BatchGroupResponse, CustomerDump, Field, LogonRequest, LogonResponse, ScopeKey, ScopeSnapshot,
    ScopeVersions, ScopeVersionsRequest, SessionCreated, SessionFinish, SessionRecord,
    SessionStart, VolumeState,
};
use tapesync_store::{Role, ScratchLevel, User, VolumeCount};

pub mod moves;
pub mod reconcile;

/// The canonical scope of a path, or 400 naming the bad part.
fn scope_of(customer: &str, media: &str) -> Result<ScopeKey, ApiError> {
    let customer = validate_id(Field::Customer, customer)
        .map_err(|e| ApiError::bad_request(Some(Field::Customer.to_string()), e.to_string()))?;
    let media = validate_id(Field::Media, media)
        .map_err(|e| ApiError::bad_request(Some(Field::Media.to_string()), e.to_string()))?;
    Ok(ScopeKey { customer, media })
}

fn volume_of(volume: &str) -> Result<String, ApiError> {
    validate_volume_id(volume)
        .map_err(|e| ApiError::bad_request(Some(Field::Volume.to_string()), e.to_string()))
}

/// The caller's role on `customer`, or 404 when it has none.
async fn require_role(
    state: &AppState,
    user: &User,
    customer: &str,
    needed: Role,
) -> Result<Role, ApiError> {
    match auth::role_on(state, user, customer).await? {
        None => Err(ApiError::not_found()),
        Some(role) if role < needed => Err(ApiError::forbidden(format!(
            "this needs {needed:?} rights on customer {customer}"
        ))),
        Some(role) => Ok(role),
    }
}

/// The customers the user may read (all of them for an administrator).
pub async fn readable_customers(
    state: &AppState,
    user: &User,
) -> Result<Vec<CustomerDump>, ApiError> {
    let user = user.clone();
    state
        .read(move |store| {
            let all = store.list_customers()?;
            if user.is_admin {
                return Ok(all);
            }
            let mut visible = Vec::new();
            for c in all {
                if store.role_of(&user, &c.id)?.is_some() {
                    visible.push(c);
                }
            }
            Ok(visible)
        })
        .await
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn logon(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LogonResponse>, ApiError> {
    parse_query::<NoQuery>(query.as_deref())?;
    let body = read_body(&headers, body, BodyType::Json, LOGON_BODY_LIMIT).await?;
    let request: LogonRequest = parse_json(&body)?;
    let done = auth::logon(&state, &request.user, &request.password, address).await?;
    Ok(Json(LogonResponse {
        token: done.token,
        expires_at: done
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        user: done.user.name,
        is_admin: done.user.is_admin,
    }))
}

pub async fn customers(
    State(state): State<AppState>,
    Caller(user): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<CustomerDump>>, ApiError> {
    parse_query::<NoQuery>(query.as_deref())?;
    Ok(Json(readable_customers(&state, &user).await?))
}

/// The customer of a path that takes no query, checked, and readable by the user (else 404).
async fn readable_customer_id(
    state: &AppState,
    user: &User,
    customer: &str,
    query: Option<&str>,
) -> Result<String, ApiError> {
    let customer = validate_id(Field::Customer, customer)
        .map_err(|e| ApiError::bad_request(Some(Field::Customer.to_string()), e.to_string()))?;
    require_role(state, user, &customer, Role::Read).await?;
    parse_query::<NoQuery>(query)?;
    Ok(customer)
}

pub async fn volume_counts(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<VolumeCount>>, ApiError> {
    let customer = readable_customer_id(&state, &user, &customer, query.as_deref()).await?;
    let counts = state
        .read(move |store| store.volume_counts(&customer))
        .await?;
    Ok(Json(counts))
}

pub async fn scratch_levels(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<ScratchLevel>>, ApiError> {
    let customer = readable_customer_id(&state, &user, &customer, query.as_deref()).await?;
    let levels = state
        .read(move |store| store.scratch_levels(Some(&customer)))
        .await?;
    Ok(Json(levels))
}

pub async fn download_scope(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((customer, media)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<ScopeSnapshot>, ApiError> {
    let scope = scope_of(&customer, &media)?;
    require_role(&state, &user, &scope.customer, Role::Read).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    Counters::bump(&state.counters().scope_downloads);
    let snapshot = state
        .read(move |store| store.download_scope(&scope))
        .await?;
    Ok(Json(snapshot))
}

/// Content type of a scope table (the binary encoding of [`ScopeTable::encode`]).
pub const SCOPE_TABLE_TYPE: &str = "application/vnd.tapesync.scope-table";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableQuery {
    /// Comma-separated field names; absent or empty means no columns (IDs and versions only).
    pub columns: Option<String>,
}

/// The fields of a `columns=` list: canonical field names (as in `set` of a batch; the aliases
/// and any spelling of the definition language are for definitions, not the wire). An unknown
/// name is a 400; whether a known field is stored (and so can be a column), and that none is
/// repeated, is the store's to say, also as a 400.
fn columns_of(list: Option<&str>) -> Result<Vec<Field>, ApiError> {
    let list = list.unwrap_or("");
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|name| {
            Field::by_canonical_name(name).ok_or_else(|| {
                ApiError::bad_request(Some("columns".into()), Field::not_canonical_message(name))
            })
        })
        .collect()
}

/// The scope as a binary [`ScopeTable`] of the requested columns: the compact download a sync
/// uses (the JSON snapshot of `download_scope` carries every field of every volume).
pub async fn download_table(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((customer, media)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let scope = scope_of(&customer, &media)?;
    require_role(&state, &user, &scope.customer, Role::Read).await?;
    let query: TableQuery = parse_query(query.as_deref())?;
    let columns = columns_of(query.columns.as_deref())?;
    Counters::bump(&state.counters().scope_downloads);
    // Encoding a large scope takes milliseconds of CPU: it stays on the store's thread.
    let bytes = state
        .read(move |store| Ok(store.download_table(&scope, &columns)?.encode()))
        .await?;
    Ok(([(header::CONTENT_TYPE, SCOPE_TABLE_TYPE)], bytes).into_response())
}

/// The store's identity and the versions of the scopes asked for (one request for a whole
/// run; see [`ScopeVersions`]). Scopes of customers the caller may not read are left out of
/// the answer, exactly as if they did not exist; a scope is never a 404 here, so the answer
/// says nothing about customers beyond the caller's grants.
pub async fn scope_versions(
    State(state): State<AppState>,
    Caller(user): Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ScopeVersions>, ApiError> {
    parse_query::<NoQuery>(query.as_deref())?;
    let body = read_body(&headers, body, BodyType::Json, SCOPE_VERSIONS_BODY_LIMIT).await?;
    let request: ScopeVersionsRequest = parse_json(&body)?;
    if request.scopes.len() > MAX_SCOPES_PER_VERSIONS {
        return Err(ApiError::bad_request(
            Some("scopes".into()),
            format!("at most {MAX_SCOPES_PER_VERSIONS} scopes may be asked for at once"),
        ));
    }
    let scopes = request
        .scopes
        .iter()
        .map(|s| scope_of(&s.customer, &s.media))
        .collect::<Result<Vec<_>, _>>()?;
    Counters::bump(&state.counters().version_requests);
    let versions = state
        .read(move |store| {
            // One look-up of the caller's role per customer, not per scope.
            let mut readable: BTreeMap<String, bool> = BTreeMap::new();
            let mut visible = Vec::with_capacity(scopes.len());
            for scope in scopes {
                let may_read = match readable.get(&scope.customer) {
                    Some(known) => *known,
                    None => {
                        let role =
                            user.is_admin || store.role_of(&user, &scope.customer)?.is_some();
                        readable.insert(scope.customer.clone(), role);
                        role
                    }
                };
                if may_read {
                    visible.push(scope);
                }
            }
            store.scope_versions(&visible)
        })
        .await?;
    Ok(Json(versions))
}

fn check_batch(batch: &ApplyBatch) -> Result<(), ApiError> {
    let key = &batch.idempotency_key;
    let printable = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !printable {
        return Err(ApiError::bad_request(
            Some("idempotency_key".into()),
            format!(
                "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters without spaces"
            ),
        ));
    }
    if batch.changes.len() > MAX_CHANGES_PER_BATCH {
        return Err(ApiError::bad_request(
            Some("changes".into()),
            format!("a batch holds at most {MAX_CHANGES_PER_BATCH} changes"),
        ));
    }
    Ok(())
}

pub async fn apply(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((customer, media)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ApplyResponse>, ApiError> {
    let scope = scope_of(&customer, &media)?;
    // Rights first: a caller without a grant learns nothing, not even whether its body parses,
    // and the body (up to the large batch limit) is read only for a caller who may write.
    require_role(&state, &user, &scope.customer, Role::Write).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    let limit = state.config().max_body_bytes;
    // Held until the batch is applied: bodies waiting for the writer are not read yet.
    let _room = state.admission().batch().await;
    let body = read_body(&headers, body, BodyType::Json, limit).await?;
    let batch: ApplyBatch = parse_json(&body)?;
    drop(body);
    check_batch(&batch)?;
    if let Some(session) = batch.session {
        require_own_session(&state, &user, session).await?;
    }
    Counters::bump(&state.counters().apply_requests);
    let actor = user.name.clone();
    let response = state
        .write(move |store| store.apply(&actor, &scope, &batch))
        .await?;
    if response.replayed {
        Counters::bump(&state.counters().applies_replayed);
    }
    state.metrics().batch_applied(&response);
    Ok(Json(response))
}

/// `POST /api/v1/batches`: several batches, of one customer or several, applied in one
/// transaction (all or none). The rules of [`apply`] hold for each batch; the customers are
/// only known from the body, so the large body is read once the caller is known to hold Write
/// rights on some customer, and the rights on every customer the group names are checked
/// (404 without a role, 403 with Read only) before anything else is looked at.
pub async fn apply_group(
    State(state): State<AppState>,
    Caller(user): Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchGroupResponse>, ApiError> {
    parse_query::<NoQuery>(query.as_deref())?;
    require_some_write(
        &state,
        &user,
        "applying a group of batches needs a write grant on every customer it names",
    )
    .await?;
    let limit = state.config().max_body_bytes;
    // One room for the whole group, as for one batch: the group's body is what is held.
    let _room = state.admission().batch().await;
    let body = read_body(&headers, body, BodyType::Json, limit).await?;
    let group: BatchGroup = parse_json(&body)?;
    drop(body);
    tapesync_store::check_group_size(&group.batches)
        .map_err(|e| ApiError::bad_request(Some("batches".into()), e.to_string()))?;
    let mut batches = group.batches;
    for (i, b) in batches.iter_mut().enumerate() {
        let scope = scope_of(&b.customer, &b.media).map_err(|e| {
            // Named as the body names them, not as the path parameters are.
            let member = if e.field == Some(Field::Customer.to_string()) {
                "customer"
            } else {
                "media"
            };
            in_group(
                i,
                "",
                ApiError {
                    field: Some(member.into()),
                    ..e
                },
            )
        })?;
        (b.customer, b.media) = (scope.customer, scope.media);
    }
    // Every customer named, each once and in one order, before the batches are looked at.
    let customers: std::collections::BTreeSet<&str> =
        batches.iter().map(|b| b.customer.as_str()).collect();
    for customer in customers {
        require_role(&state, &user, customer, Role::Write).await?;
    }
    for (i, b) in batches.iter().enumerate() {
        check_batch(&b.batch).map_err(|e| in_group(i, "batch.", e))?;
    }
    let sessions: std::collections::BTreeSet<i64> =
        batches.iter().filter_map(|b| b.batch.session).collect();
    for session in sessions {
        require_own_session(&state, &user, session).await?;
    }
    // Counted per batch, so the figures of a node mean the same whether its clients send
    // batches one by one or in groups.
    state
        .counters()
        .apply_requests
        .fetch_add(batches.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let actor = user.name.clone();
    let responses = state
        .write(move |store| store.apply_group(&actor, &batches))
        .await?;
    for response in &responses {
        if response.replayed {
            Counters::bump(&state.counters().applies_replayed);
        }
        state.metrics().batch_applied(response);
    }
    Ok(Json(BatchGroupResponse { responses }))
}

/// 403 (with `refusal`) unless the caller is an administrator or holds a write grant on some
/// customer: what a request needs before it is worth reading further when the customers it
/// touches are not known yet (a session's begin, a group's large body).
async fn require_some_write(
    state: &AppState,
    user: &User,
    refusal: &'static str,
) -> Result<(), ApiError> {
    if user.is_admin {
        return Ok(());
    }
    let user = user.clone();
    let may_write = state
        .read(move |store| {
            Ok(store
                .grants(&user)?
                .iter()
                .any(|(_, role)| *role >= Role::Write))
        })
        .await?;
    if may_write {
        Ok(())
    } else {
        Err(ApiError::forbidden(refusal))
    }
}

/// Points an error about one batch of a group at it: its field becomes the JSON path
/// `batches[i].<inner><field>` and its message names the batch.
fn in_group(index: usize, inner: &str, e: ApiError) -> ApiError {
    ApiError {
        field: Some(match &e.field {
            Some(f) => format!("batches[{index}].{inner}{f}"),
            None => format!("batches[{index}]"),
        }),
        message: format!("{} (batch {} of the group)", e.message, index + 1),
        ..e
    }
}

pub async fn volume(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((customer, media, volume)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<VolumeState>, ApiError> {
    let scope = scope_of(&customer, &media)?;
    require_role(&state, &user, &scope.customer, Role::Read).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    let volume = volume_of(&volume)?;
    state
        .read(move |store| store.volume(&scope, &volume))
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

pub async fn volume_history(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((customer, media, volume)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let scope = scope_of(&customer, &media)?;
    require_role(&state, &user, &scope.customer, Role::Read).await?;
    parse_query::<NoQuery>(query.as_deref())?;
    let volume = volume_of(&volume)?;
    let (exists, history) = state
        .read(move |store| {
            Ok((
                store.volume(&scope, &volume)?.is_some(),
                store.volume_history(&scope, &volume)?,
            ))
        })
        .await?;
    if !exists && history.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Json(history))
}

/// Session texts are limited in characters, as JSON Schema's `maxLength` counts them.
fn check_session_text(name: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_SESSION_TEXT {
        return Err(ApiError::bad_request(
            Some(name.to_string()),
            format!("{name} is longer than {MAX_SESSION_TEXT} characters"),
        ));
    }
    Ok(())
}

pub async fn begin_session(
    State(state): State<AppState>,
    Caller(user): Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    parse_query::<NoQuery>(query.as_deref())?;
    let body = read_body(&headers, body, BodyType::Json, SESSION_BODY_LIMIT).await?;
    let start: SessionStart = parse_json(&body)?;
    check_session_text("definition_hash", &start.definition_hash)?;
    check_session_text("definition_name", &start.definition_name)?;
    check_session_text("source_name", &start.source_name)?;
    // A session is a record of changes being made: only a user who may make some begins one
    // (a read-only token could otherwise fill the store with sessions).
    require_some_write(
        &state,
        &user,
        "beginning a sync session needs a write grant on at least one customer",
    )
    .await?;
    state
        .admit_session_begin(&user.name)
        .map_err(ApiError::too_many_requests)?;
    let actor = user.name.clone();
    let id = state
        .write(move |store| store.begin_session(&actor, &start))
        .await?;
    state.metrics().session_started();
    Ok((StatusCode::CREATED, Json(SessionCreated { id })))
}

/// A session may be extended (batches, finish) only by the user who began it, or an admin.
/// Anyone else gets 404, as for a session that does not exist.
async fn require_own_session(state: &AppState, user: &User, id: i64) -> Result<(), ApiError> {
    let owner = state
        .read(move |store| Ok(store.session(id)?.map(|s| s.user)))
        .await?;
    match owner {
        Some(owner) if owner == user.name || user.is_admin => Ok(()),
        _ => Err(ApiError::not_found()),
    }
}

/// A session id from the path: `222`, or the same whole number as a client that keeps every
/// number as a float writes it (`222.0`, `2.22e2`) — the request bodies accept those too, and
/// a client that took the id out of a JSON body may send it so (found by scripts/api-fuzz's
/// stateful phase following the `FinishAppliedSession` link).
fn session_id(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let f: f64 = text.parse().ok()?;
    // Below 2^53 every whole f64 is exact, so the cast loses nothing.
    (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
}

pub async fn finish_session(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let id = session_id(&id)
        .ok_or_else(|| ApiError::bad_request(Some("id".into()), "session id is not a number"))?;
    parse_query::<NoQuery>(query.as_deref())?;
    let body = read_body(&headers, body, BodyType::Json, SESSION_BODY_LIMIT).await?;
    let finish: SessionFinish = parse_json(&body)?;
    require_own_session(&state, &user, id).await?;
    let outcome = finish.outcome;
    state
        .write(move |store| store.finish_session(id, finish.outcome, &finish.statistics))
        .await?;
    state.metrics().session_finished(outcome);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<usize>,
}

/// Sessions the user may see: all for an administrator; otherwise those that applied changes
/// to a customer the user may read.
pub async fn visible_sessions(
    state: &AppState,
    user: &User,
    limit: usize,
) -> Result<Vec<SessionRecord>, ApiError> {
    let limit = limit.clamp(1, MAX_SESSION_LIST);
    if user.is_admin {
        return state
            .read(move |store| store.list_sessions(None, limit))
            .await;
    }
    let customers: Vec<String> = readable_customers(state, user)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    state
        .read(move |store| store.list_sessions(Some(&customers), limit))
        .await
}

pub async fn list_sessions(
    State(state): State<AppState>,
    Caller(user): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<SessionRecord>>, ApiError> {
    let query: ListQuery = parse_query(query.as_deref())?;
    let limit = query.limit.unwrap_or(DEFAULT_SESSION_LIST);
    if !(1..=MAX_SESSION_LIST).contains(&limit) {
        return Err(ApiError::bad_request(
            Some("limit".into()),
            format!("limit must be 1 to {MAX_SESSION_LIST}"),
        ));
    }
    Ok(Json(visible_sessions(&state, &user, limit).await?))
}

pub async fn server_statistics(
    State(state): State<AppState>,
    Caller(user): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<CountersSnapshot>, ApiError> {
    parse_query::<NoQuery>(query.as_deref())?;
    if !user.is_admin {
        return Err(ApiError::forbidden(
            "server statistics are for administrators",
        ));
    }
    Ok(Json(state.counters().snapshot()))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

#[cfg(test)]
mod tests {
    use super::session_id;

    #[test]
    fn session_ids_take_the_float_notation_of_a_whole_number() {
        assert_eq!(session_id("222"), Some(222));
        assert_eq!(session_id("222.0"), Some(222));
        assert_eq!(session_id("2.22e2"), Some(222));
        for bad in ["222.5", "abc", "inf", "NaN", "1e300", ""] {
            assert_eq!(session_id(bad), None, "{bad}");
        }
    }
}
