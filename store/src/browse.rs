//! Browsing a customer's volumes: a filtered list read one page at a time, in (media, volume)
//! order — the web page's volume list and its CSV export. The filters and the SQL they make are
//! written once here; each backend only runs the two statements (a count and a page) with its
//! own placeholder style, inside one read snapshot.
//!
//! Paging is by key (the list continues after the last (media, volume) shown), not by offset:
//! every page of a 100,000-volume scope costs the same index range scan.

use crate::error::StoreError;
use crate::validate::id;
use crate::Store;
use tapesync_model::{Field, VolumeState};

/// Which volumes by repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryFilter {
    /// In this repository.
    In(String),
    /// In no repository (REPOSITORY not set).
    Unassigned,
}

/// Which volumes by scratch state (the SCRATCH field: `true`, `false` or not set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScratchFilter {
    Scratch,
    Active,
    Unknown,
}

/// What to list. Every filter set narrows the list; none set lists the whole customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeListQuery {
    pub media: Option<String>,
    pub repository: Option<RepositoryFilter>,
    pub scratch: Option<ScratchFilter>,
    /// `Some(true)`: only volumes with a pending move (CURRENT_REPOSITORY and REPOSITORY both
    /// set and different, whatever the move date); `Some(false)`: only the others.
    pub pending: Option<bool>,
    /// Part of the Volume-ID (compared upper-cased).
    pub text: Option<String>,
    /// Continue after this (media, volume): the last one of the previous page.
    pub after: Option<(String, String)>,
    /// At most this many volumes; `None`: all of them (the CSV export).
    pub limit: Option<usize>,
}

/// One volume of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVolume {
    pub media: String,
    pub volume: VolumeState,
}

/// A page of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeList {
    /// Volumes that pass the filters, on every page.
    pub total: u64,
    pub volumes: Vec<ListedVolume>,
    /// Whether more volumes follow this page.
    pub more: bool,
}

/// The statements of one list request, for a backend to run in one snapshot: `count` with
/// `count_params`, then `page` with `page_params` (which selects `media, volume, version` and
/// then every stored field column).
pub(crate) struct ListStatements {
    pub count: String,
    pub count_params: Vec<String>,
    pub page: String,
    pub page_params: Vec<String>,
}

/// Builds the statements; `placeholder(n)` is the backend's n-th (1-based) parameter.
pub(crate) fn statements(
    customer: &str,
    query: &VolumeListQuery,
    columns: &str,
    placeholder: fn(usize) -> String,
) -> ListStatements {
    let mut params = vec![customer.to_string()];
    let mut filter = format!("customer = {}", placeholder(1));
    let mut bind = |filter: &mut String, condition: &str, value: String| {
        params.push(value);
        filter.push_str(" AND ");
        filter.push_str(&condition.replace('?', &placeholder(params.len())));
    };
    if let Some(media) = &query.media {
        bind(&mut filter, "media = ?", media.clone());
    }
    match &query.repository {
        Some(RepositoryFilter::In(r)) => bind(&mut filter, "repository = ?", r.clone()),
        Some(RepositoryFilter::Unassigned) => filter.push_str(" AND repository IS NULL"),
        None => {}
    }
    match query.scratch {
        Some(ScratchFilter::Scratch) => filter.push_str(" AND scratch = 'true'"),
        Some(ScratchFilter::Active) => filter.push_str(" AND scratch = 'false'"),
        Some(ScratchFilter::Unknown) => filter.push_str(" AND scratch IS NULL"),
        None => {}
    }
    match query.pending {
        // The condition of the partial index `volumes_moving`, written as it is there so that
        // both databases read that index (see `moves::pending_moves_query`).
        Some(true) => filter.push_str(" AND current_repository <> repository"),
        Some(false) => filter.push_str(
            " AND (current_repository IS NULL OR repository IS NULL \
             OR current_repository = repository)",
        ),
        None => {}
    }
    if let Some(text) = &query.text {
        // Checked to be Volume-ID characters only: no LIKE wildcard can reach the pattern.
        bind(&mut filter, "volume LIKE ?", format!("%{text}%"));
    }
    let count = format!("SELECT count(*) FROM volumes WHERE {filter}");
    let count_params = params.clone();
    let mut page_filter = filter;
    if let Some((media, volume)) = &query.after {
        params.push(media.clone());
        params.push(volume.clone());
        let (m, v) = (placeholder(params.len() - 1), placeholder(params.len()));
        // A row-value comparison: both databases seek the index to it (an OR of two
        // comparisons would read the list from its start on every page).
        page_filter.push_str(&format!(" AND (media, volume) > ({m}, {v})"));
    }
    let mut page = format!(
        "SELECT media, volume, version, {columns} FROM volumes WHERE {page_filter} ORDER BY media, volume"
    );
    if let Some(limit) = query.limit {
        // One more than asked for tells whether another page follows.
        page.push_str(&format!(" LIMIT {}", limit + 1));
    }
    ListStatements {
        count,
        count_params,
        page,
        page_params: params,
    }
}

pub(crate) fn sqlite_placeholder(n: usize) -> String {
    format!("?{n}")
}

pub(crate) fn postgres_placeholder(n: usize) -> String {
    format!("${n}")
}

/// The largest page one request may ask for.
pub const MAX_PAGE: usize = 1000;

impl Store {
    /// A page of a customer's volumes that pass `query`'s filters, in (media, volume) order,
    /// with the number of them on every page. Bad identifiers, search text that cannot be
    /// part of a Volume-ID, or a page size of 0 or over [`MAX_PAGE`] are `Invalid`; an unknown
    /// customer is `NotFound`.
    pub fn list_volumes(
        &self,
        customer: &str,
        query: &VolumeListQuery,
    ) -> Result<VolumeList, StoreError> {
        let customer = id(Field::Customer, customer)?;
        let checked = check(query)?;
        if !self.backend.customer_exists(&customer)? {
            return Err(StoreError::NotFound(format!("customer {customer}")));
        }
        let statements = statements(
            &customer,
            &checked,
            &self.columns.list,
            self.backend.placeholder(),
        );
        let (total, mut volumes) = self.backend.list_volumes(&statements)?;
        let more = checked.limit.is_some_and(|limit| volumes.len() > limit);
        if let Some(limit) = checked.limit {
            volumes.truncate(limit);
        }
        Ok(VolumeList {
            total,
            volumes,
            more,
        })
    }
}

fn check(query: &VolumeListQuery) -> Result<VolumeListQuery, StoreError> {
    let text = match query.text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => {
            let upper = t.to_ascii_uppercase();
            if upper.len() > 10 || !upper.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(StoreError::invalid(
                    Some(Field::Volume),
                    format!(
                        "search text {t:?} cannot be part of a Volume-ID: use up to 10 letters, digits and '-'"
                    ),
                ));
            }
            Some(upper)
        }
    };
    if let Some(limit) = query.limit {
        if limit == 0 || limit > MAX_PAGE {
            return Err(StoreError::invalid(
                None,
                format!("a page holds 1 to {MAX_PAGE} volumes, not {limit}"),
            ));
        }
    }
    Ok(VolumeListQuery {
        media: query
            .media
            .as_deref()
            .map(|m| id(Field::Media, m))
            .transpose()?,
        repository: match &query.repository {
            Some(RepositoryFilter::In(r)) => Some(RepositoryFilter::In(id(Field::Repository, r)?)),
            other => other.clone(),
        },
        scratch: query.scratch,
        pending: query.pending,
        text,
        after: match &query.after {
            Some((m, v)) => Some((id(Field::Media, m)?, crate::validate::volume_id(v)?)),
            None => None,
        },
        limit: query.limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_numbered_parameters_and_the_page_continues_after_its_key() {
        let q = VolumeListQuery {
            media: Some("LTO".into()),
            repository: Some(RepositoryFilter::Unassigned),
            scratch: Some(ScratchFilter::Active),
            pending: None,
            text: Some("A1".into()),
            after: Some(("LTO".into(), "A10".into())),
            limit: Some(50),
        };
        let s = statements("ACME", &q, "repository", postgres_placeholder);
        assert_eq!(
            s.count,
            "SELECT count(*) FROM volumes WHERE customer = $1 AND media = $2 \
             AND repository IS NULL AND scratch = 'false' AND volume LIKE $3"
        );
        assert_eq!(s.count_params, ["ACME", "LTO", "%A1%"]);
        assert!(
            s.page
                .ends_with("AND (media, volume) > ($4, $5) ORDER BY media, volume LIMIT 51"),
            "{}",
            s.page
        );
        assert_eq!(s.page_params, ["ACME", "LTO", "%A1%", "LTO", "A10"]);
    }
}
