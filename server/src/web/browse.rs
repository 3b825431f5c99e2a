//! The volume list of one customer: filters (media, repository, scratch state, pending move,
//! part of a Volume-ID), key paging, and the CSV export of the whole filtered list. Every count on the
//! overview links here.

use super::links::VolumeFilter;
use super::{or_error_page, page, page_user, pages, refuse_logged_off};
use crate::api::readable_customers;
use crate::body::parse_query;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tapesync_model::{validate_id, CustomerDump, Field};
use tapesync_store::{RepositoryFilter, ScratchFilter, User, VolumeList, VolumeListQuery};

/// Volumes per page of the list.
pub const PAGE_SIZE: usize = 100;

/// What a list request asks for: the user, the customer, the filters and the volumes (one
/// page, or with `whole` every volume that passes the filters, in one snapshot). `None` when
/// nobody is logged on.
struct Listing {
    user: User,
    customer: CustomerDump,
    filter: VolumeFilter,
    list: VolumeList,
}

async fn listing(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    whole: bool,
) -> Result<Option<Listing>, ApiError> {
    let Some(user) = page_user(state, headers).await? else {
        return Ok(None);
    };
    let filter = parse_query::<VolumeFilter>(query)?.tidy();
    let customer = readable_customer(state, &user, &filter.customer).await?;
    let mut store_query = store_query(&filter)?;
    if whole {
        store_query.after = None;
    } else {
        store_query.limit = Some(PAGE_SIZE);
    }
    let id = customer.id.clone();
    let list = state
        .read(move |store| store.list_volumes(&id, &store_query))
        .await?;
    Ok(Some(Listing {
        user,
        customer,
        filter,
        list,
    }))
}

pub async fn volumes(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    or_error_page(
        listing(&state, &headers, query.as_deref(), false)
            .await
            .map(|l| {
                let Some(l) = l else {
                    return refuse_logged_off();
                };
                let body = pages::volume_list(&l.user, &l.customer, &l.filter, &l.list);
                page(
                    StatusCode::OK,
                    &format!("Volumes of {}", l.customer.id),
                    body,
                )
            }),
    )
}

pub async fn volumes_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let csv = |l: Listing| -> Result<Response, ApiError> {
        let csv = csv_bytes(&l.customer.id, &l.list).map_err(ApiError::internal)?;
        let mut response = (StatusCode::OK, csv).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{}-volumes.csv\"",
            l.customer.id
        )) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok(response)
    };
    or_error_page(
        match listing(&state, &headers, query.as_deref(), true).await {
            Ok(Some(l)) => csv(l),
            Ok(None) => Ok(refuse_logged_off()),
            Err(e) => Err(e),
        },
    )
}

/// The customer named by the list's query, if the user may read it; 404 otherwise (also for
/// one that exists but is not the user's), 400 without a customer.
pub(super) async fn readable_customer(
    state: &AppState,
    user: &User,
    customer: &str,
) -> Result<CustomerDump, ApiError> {
    if customer.trim().is_empty() {
        return Err(ApiError::bad_request(
            Some("customer".into()),
            "name the customer whose volumes to list (customer=…)".to_string(),
        ));
    }
    let wanted = validate_id(Field::Customer, customer.trim())
        .map_err(|e| ApiError::bad_request(Some("customer".into()), e.to_string()))?;
    readable_customers(state, user)
        .await?
        .into_iter()
        .find(|c| c.id == wanted)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no customer {wanted} that you may read"),
            )
        })
}

/// The store's query for the page's filters (the store checks the identifiers and text).
fn store_query(filter: &VolumeFilter) -> Result<VolumeListQuery, ApiError> {
    let bad = |name: &str, message: String| ApiError::bad_request(Some(name.into()), message);
    let scratch = match filter.scratch.as_deref() {
        None => None,
        Some("scratch") => Some(ScratchFilter::Scratch),
        Some("active") => Some(ScratchFilter::Active),
        Some("unknown") => Some(ScratchFilter::Unknown),
        Some(other) => {
            return Err(bad(
                "scratch",
                format!("scratch is one of scratch, active or unknown, not {other:?}"),
            ))
        }
    };
    let pending = match filter.pending.as_deref() {
        None => None,
        Some("yes") => Some(true),
        Some("no") => Some(false),
        Some(other) => {
            return Err(bad(
                "pending",
                format!("pending is yes or no (or empty for any), not {other:?}"),
            ))
        }
    };
    let repository = filter.repository.as_deref().map(|r| {
        if r == VolumeFilter::NO_REPOSITORY {
            RepositoryFilter::Unassigned
        } else {
            RepositoryFilter::In(r.to_string())
        }
    });
    let after = match filter.after.as_deref() {
        None => None,
        Some(a) => match a.split_once('/') {
            Some((m, v)) => Some((m.to_string(), v.to_string())),
            None => {
                return Err(bad(
                    "after",
                    format!(
                        "after is MEDIA/VOLUME (the last volume of the previous page), not {a:?}"
                    ),
                ))
            }
        },
    };
    Ok(VolumeListQuery {
        media: filter.media.clone(),
        repository,
        scratch,
        pending,
        text: filter.text.clone(),
        after,
        limit: None,
    })
}

/// The CSV export: one row per volume with its scope, version and every stored field, in
/// the store's field order, under a header row of the field names.
fn csv_bytes(customer: &str, list: &VolumeList) -> Result<Vec<u8>, csv::Error> {
    let fields: Vec<Field> = Field::stored()
        .filter(|f| tapesync_store::column(*f).is_some())
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "CUSTOMER".to_string(),
        "MEDIA".into(),
        "VOLUME".into(),
        "VERSION".into(),
    ];
    header.extend(fields.iter().map(|f| f.to_string()));
    w.write_record(&header)?;
    for v in &list.volumes {
        let mut row = vec![
            customer.to_string(),
            v.media.clone(),
            v.volume.volume.clone(),
            v.volume.version.to_string(),
        ];
        row.extend(
            fields
                .iter()
                .map(|f| v.volume.fields.get(f).cloned().unwrap_or_default()),
        );
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
