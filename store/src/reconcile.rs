//! Reconciliation: what the inventory expects in one repository of a customer (the volumes
//! whose current location, CURRENT_REPOSITORY, is that repository) against what was found
//! there (barcodes scanned in the library or vault, or read from the vault's own inventory).
//!
//! A reconciliation changes no volume. It is recorded — who, when, the source, the counts and
//! the three lists — so that its dated certificate can be shown again later.

use crate::error::StoreError;
use crate::validate::id;
use crate::Store;
use std::collections::{BTreeMap, BTreeSet};
use tapesync_model::Field;

/// What was found in a repository, to compare with what the inventory expects there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    pub repository: String,
    /// Only volumes of this media are expected, and barcodes are looked up in it alone
    /// (`None`: every media of the customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// The barcodes found (Volume-IDs; duplicates count once).
    pub barcodes: Vec<String>,
    /// Where the barcodes came from, for the certificate: a file name, "standard input",
    /// "web form", or a definition and its report.
    pub source: String,
}

/// A recorded reconciliation without its lists (what a list of them shows).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationSummary {
    pub id: i64,
    pub customer: String,
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// Who reconciled (the user, or the local account for an embedded store).
    pub actor: String,
    /// When, as an RFC 3339 UTC timestamp.
    pub at: String,
    pub source: String,
    pub counts: ReconcileCounts,
}

impl ReconciliationSummary {
    /// When it was recorded, as people read it: `2026-11-29 12:34:56 UTC`.
    pub fn date_text(&self) -> String {
        chrono::DateTime::parse_from_rfc3339(&self.at)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %H:%M:%S UTC")
                    .to_string()
            })
            .unwrap_or_else(|_| self.at.clone())
    }

    /// Nothing missing and nothing surplus.
    pub fn is_clean(&self) -> bool {
        self.counts.missing == 0 && self.counts.surplus == 0
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileCounts {
    /// Volumes the inventory has in the repository.
    pub expected: u64,
    /// Distinct barcodes found.
    pub found: u64,
    pub present: u64,
    pub missing: u64,
    pub surplus: u64,
}

/// A recorded reconciliation with its three lists (its certificate; an answer of the API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconciliation {
    pub summary: ReconciliationSummary,
    /// Expected in the repository and found.
    pub present: Vec<ReconciledVolume>,
    /// Expected in the repository, not found.
    pub missing: Vec<ReconciledVolume>,
    /// Found, but not expected in the repository.
    pub surplus: Vec<SurplusVolume>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciledVolume {
    pub media: String,
    pub volume: String,
}

/// A barcode found where the inventory does not expect it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurplusVolume {
    pub volume: String,
    /// The volume's media; `None` when no volume of the customer has the barcode.
    pub media: Option<String>,
    /// Where the inventory thinks the volume is (CURRENT_REPOSITORY); `None` for an unknown
    /// volume, or a volume without a location.
    pub current_repository: Option<String>,
}

impl SurplusVolume {
    /// Where the inventory thinks it is, in words.
    pub fn whereabouts(&self) -> String {
        match (&self.media, &self.current_repository) {
            (None, _) => "unknown volume".to_string(),
            (Some(_), Some(r)) => format!("inventory: in {r}"),
            (Some(_), None) => "inventory: no location".to_string(),
        }
    }
}

/// Longest source label kept (a file name or a definition with its report).
pub const SOURCE_MAX: usize = 500;

/// One volume of the customer and where it is: (media, volume, CURRENT_REPOSITORY).
pub(crate) type Located = (String, String, Option<String>);

/// The lists of a reconciliation as the store keeps them (one JSON text).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredLists {
    pub present: Vec<ReconciledVolume>,
    pub missing: Vec<ReconciledVolume>,
    pub surplus: Vec<SurplusVolume>,
}

/// Compares the customer's volumes (`volumes`, of the media asked for) with the barcodes
/// found in `repository`. Pure: the store reads and records around it.
pub(crate) fn compare(
    repository: &str,
    volumes: &[Located],
    found: &BTreeSet<String>,
) -> (ReconcileCounts, StoredLists) {
    let mut by_barcode: BTreeMap<&str, Vec<&Located>> = BTreeMap::new();
    for v in volumes {
        by_barcode.entry(v.1.as_str()).or_default().push(v);
    }
    let here = |v: &Located| v.2.as_deref() == Some(repository);
    let mut lists = StoredLists {
        present: Vec::new(),
        missing: Vec::new(),
        surplus: Vec::new(),
    };
    let mut expected = 0;
    for v in volumes.iter().filter(|v| here(v)) {
        expected += 1;
        let entry = ReconciledVolume {
            media: v.0.clone(),
            volume: v.1.clone(),
        };
        if found.contains(&v.1) {
            lists.present.push(entry);
        } else {
            lists.missing.push(entry);
        }
    }
    for barcode in found {
        let known = by_barcode.get(barcode.as_str());
        match known {
            None => lists.surplus.push(SurplusVolume {
                volume: barcode.clone(),
                media: None,
                current_repository: None,
            }),
            // Present in one media (counted above) is enough: the same barcode in another
            // media elsewhere is another tape's record, not this one.
            Some(vs) if vs.iter().any(|v| here(v)) => {}
            Some(vs) => lists.surplus.extend(vs.iter().map(|v| SurplusVolume {
                volume: v.1.clone(),
                media: Some(v.0.clone()),
                current_repository: v.2.clone(),
            })),
        }
    }
    let sort = |l: &mut Vec<ReconciledVolume>| {
        l.sort_by(|a, b| (&a.volume, &a.media).cmp(&(&b.volume, &b.media)))
    };
    sort(&mut lists.present);
    sort(&mut lists.missing);
    let counts = ReconcileCounts {
        expected,
        found: found.len() as u64,
        present: lists.present.len() as u64,
        missing: lists.missing.len() as u64,
        surplus: lists.surplus.len() as u64,
    };
    (counts, lists)
}

impl Store {
    /// Reconciles `repository` of `customer` against the barcodes found there and records the
    /// result (changing no volume) with `actor` and the time.
    ///
    /// Bad input records nothing: a customer that does not exist (`NotFound`); a repository
    /// or media the customer does not have, no barcodes, or a barcode that is no Volume-ID
    /// (not even with blanks around it)
    /// (`Invalid`, naming them). A barcode no volume of the customer has is no error: it is
    /// surplus, an "unknown volume".
    pub fn reconcile(
        &mut self,
        actor: &str,
        customer: &str,
        request: &ReconcileRequest,
    ) -> Result<Reconciliation, StoreError> {
        let customer = id(Field::Customer, customer)?;
        let repository = id(Field::Repository, &request.repository)?;
        let media = request
            .media
            .as_deref()
            .map(|m| id(Field::Media, m))
            .transpose()?;
        crate::validate::check_plain("the source", &request.source)?;
        if request.source.chars().count() > SOURCE_MAX {
            return Err(StoreError::invalid(
                None,
                format!("the source is longer than {SOURCE_MAX} characters; shorten it"),
            ));
        }
        let mut found = BTreeSet::new();
        let mut bad = Vec::new();
        // Exactly Volume-IDs (compared upper-cased): the clients drop blank lines and
        // surrounding blanks, so a barcode with either here is a bad one, not a guess.
        for raw in &request.barcodes {
            match crate::validate::volume_id(raw) {
                Ok(v) => {
                    found.insert(v);
                }
                Err(e) => bad.push(e.to_string()),
            }
        }
        if !bad.is_empty() {
            return Err(StoreError::invalid(
                None,
                format!(
                    "{}; correct the list (nothing was recorded)",
                    bad.join("; ")
                ),
            ));
        }
        if found.is_empty() {
            return Err(StoreError::invalid(
                None,
                "no barcodes were given: an empty scan proves nothing (nothing was recorded)"
                    .to_string(),
            ));
        }
        let known = self.customer_dump(&customer)?;
        if !known.repositories.iter().any(|r| r.id == repository) {
            return Err(StoreError::invalid(
                None,
                format!(
                    "customer {customer} has no repository {repository} (its repositories: \
                     {}); nothing was recorded",
                    names(known.repositories.iter().map(|r| r.id.as_str()))
                ),
            ));
        }
        if let Some(m) = &media {
            if !known.media.iter().any(|k| &k.id == m) {
                return Err(StoreError::invalid(
                    None,
                    format!(
                        "customer {customer} has no media {m} (its media: {}); nothing was \
                         recorded",
                        names(known.media.iter().map(|k| k.id.as_str()))
                    ),
                ));
            }
        }
        let volumes = self.backend.volume_locations(&customer, media.as_deref())?;
        let (counts, lists) = compare(&repository, &volumes, &found);
        let mut summary = ReconciliationSummary {
            id: 0,
            customer,
            repository,
            media,
            actor: actor.to_string(),
            at: crate::clock::now_text(),
            source: request.source.clone(),
            counts,
        };
        let text = serde_json::to_string(&lists)
            .map_err(|e| StoreError::Corrupt(format!("reconciliation lists: {e}")))?;
        summary.id = self.backend.insert_reconciliation(&summary, &text)?;
        Ok(Reconciliation {
            summary,
            present: lists.present,
            missing: lists.missing,
            surplus: lists.surplus,
        })
    }

    /// The reconciliations of `customer`, newest first. `NotFound` for a customer that does
    /// not exist.
    pub fn reconciliations(
        &self,
        customer: &str,
    ) -> Result<Vec<ReconciliationSummary>, StoreError> {
        let customer = id(Field::Customer, customer)?;
        if !self.backend.customer_exists(&customer)? {
            return Err(StoreError::NotFound(format!("customer {customer}")));
        }
        self.backend.reconciliations(&customer)
    }

    /// One recorded reconciliation of `customer`; `NotFound` when the customer has none with
    /// this id (another customer's id is not found either).
    pub fn reconciliation(&self, customer: &str, id_: i64) -> Result<Reconciliation, StoreError> {
        let customer = id(Field::Customer, customer)?;
        let Some((summary, text)) = self.backend.reconciliation(&customer, id_)? else {
            return Err(StoreError::NotFound(format!(
                "reconciliation {id_} of customer {customer}"
            )));
        };
        let lists: StoredLists = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("reconciliation {id_}: {e}")))?;
        Ok(Reconciliation {
            summary,
            present: lists.present,
            missing: lists.missing,
            surplus: lists.surplus,
        })
    }
}

impl Store {
    /// A customer (a checked id) with its media and repositories; `NotFound` without it.
    pub(crate) fn customer_dump(
        &self,
        customer: &str,
    ) -> Result<tapesync_model::CustomerDump, StoreError> {
        self.backend
            .list_customers()?
            .into_iter()
            .find(|c| c.id == customer)
            .ok_or_else(|| StoreError::NotFound(format!("customer {customer}")))
    }
}

fn names<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = ids.collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(media: &str, volume: &str, current: Option<&str>) -> Located {
        (media.into(), volume.into(), current.map(str::to_string))
    }

    #[test]
    fn present_missing_and_surplus() {
        let volumes = [
            at("LTO", "A1", Some("OFFS")),
            at("LTO", "A2", Some("OFFS")),
            at("LTO", "A3", Some("LIBR")),
            at("LTO", "A4", None),
        ];
        let found: BTreeSet<String> = ["A1", "A3", "A4", "ZZ9"].map(String::from).into();
        let (counts, lists) = compare("OFFS", &volumes, &found);
        assert_eq!(
            counts,
            ReconcileCounts {
                expected: 2,
                found: 4,
                present: 1,
                missing: 1,
                surplus: 3
            }
        );
        assert_eq!(lists.present[0].volume, "A1");
        assert_eq!(lists.missing[0].volume, "A2");
        let surplus: Vec<String> = lists.surplus.iter().map(|s| s.whereabouts()).collect();
        assert_eq!(
            surplus,
            [
                "inventory: in LIBR",
                "inventory: no location",
                "unknown volume"
            ]
        );
    }

    #[test]
    fn a_barcode_present_in_one_media_is_not_surplus_in_another() {
        let volumes = [at("LTO", "A1", Some("OFFS")), at("DLT", "A1", Some("LIBR"))];
        let found: BTreeSet<String> = ["A1".to_string()].into();
        let (counts, _) = compare("OFFS", &volumes, &found);
        assert_eq!((counts.present, counts.surplus), (1, 0));
    }
}

/// The statements both backends run, with their placeholders (`?1` or `$1`) put in.
pub(crate) mod sql {
    /// Parameters: customer, media or NULL.
    pub fn volume_locations(p: fn(usize) -> String) -> String {
        format!(
            "SELECT media, volume, current_repository FROM volumes \
             WHERE customer = {} AND ({m} IS NULL OR media = {m}) ORDER BY media, volume",
            p(1),
            m = p(2)
        )
    }

    /// Parameters: customer, repository, media, actor, at, source, the five counts, lists.
    pub fn insert(p: fn(usize) -> String) -> String {
        format!(
            "INSERT INTO reconciliations (customer, repository, media, actor, at, source, \
             expected, found, present, missing, surplus, lists) VALUES ({}) RETURNING id",
            (1..=12).map(p).collect::<Vec<_>>().join(", ")
        )
    }

    pub const COLUMNS: &str = "id, customer, repository, media, actor, at, source, expected, \
                               found, present, missing, surplus";

    /// Parameter: customer.
    pub fn list(p: fn(usize) -> String) -> String {
        format!(
            "SELECT {COLUMNS} FROM reconciliations WHERE customer = {} ORDER BY id DESC",
            p(1)
        )
    }

    /// Parameters: customer, id.
    pub fn one(p: fn(usize) -> String) -> String {
        format!(
            "SELECT {COLUMNS}, lists FROM reconciliations WHERE customer = {} AND id = {}",
            p(1),
            p(2)
        )
    }
}
