//! Scratch levels: a minimum number of scratch volumes per (customer, media, repository), and
//! the level against it — how many volumes of that media in that repository are scratch
//! (SCRATCH true). The minimums are stored; the levels are counted from the inventory's volume
//! counts, so a level is always the inventory's own number.

use crate::error::StoreError;
use crate::validate::id;
use crate::Store;
use std::collections::BTreeMap;
use tapesync_model::Field;

/// The minimum number of scratch volumes of `media` that `repository` of `customer` should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchMinimum {
    pub customer: String,
    pub media: String,
    pub repository: String,
    pub minimum: u64,
}

/// A minimum with the number of scratch volumes there now (also an answer of the HTTP API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchLevel {
    pub customer: String,
    pub media: String,
    pub repository: String,
    pub minimum: u64,
    pub scratch: u64,
}

impl ScratchLevel {
    /// Fewer scratch volumes than the minimum.
    pub fn is_short(&self) -> bool {
        self.scratch < self.minimum
    }
}

impl Store {
    /// Sets (or replaces) the minimum of scratch volumes of `media` in `repository` of
    /// `customer`. All three must exist.
    pub fn set_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
        minimum: u64,
    ) -> Result<(), StoreError> {
        let (customer, media, repository) = self.existing_place(customer, media, repository)?;
        let minimum = i64::try_from(minimum)
            .map_err(|_| StoreError::invalid(None, format!("minimum {minimum} is too large")))?;
        self.backend
            .set_scratch_minimum(&customer, &media, &repository, minimum)
    }

    /// Removes a minimum; `NotFound` when none was set.
    pub fn remove_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
    ) -> Result<(), StoreError> {
        let customer = id(Field::Customer, customer)?;
        let media = id(Field::Media, media)?;
        let repository = id(Field::Repository, repository)?;
        if self
            .backend
            .remove_scratch_minimum(&customer, &media, &repository)?
        {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "a scratch minimum for customer {customer}, media {media}, repository {repository}"
            )))
        }
    }

    /// The minimums with their current levels: of one customer, or of all (`None`), sorted by
    /// customer, media and repository.
    pub fn scratch_levels(&self, customer: Option<&str>) -> Result<Vec<ScratchLevel>, StoreError> {
        let customer = customer.map(|c| id(Field::Customer, c)).transpose()?;
        let minimums = self.backend.scratch_minimums(customer.as_deref())?;
        // Scratch volumes by (customer, media, repository), counted once per customer named.
        let mut scratch: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let mut counted: Vec<String> = Vec::new();
        for m in &minimums {
            if counted.contains(&m.customer) {
                continue;
            }
            for c in self.backend.volume_counts(&m.customer)? {
                if let (Some(repository), Some(true)) = (c.repository, c.scratch) {
                    *scratch
                        .entry((m.customer.clone(), c.media, repository))
                        .or_default() += c.count;
                }
            }
            counted.push(m.customer.clone());
        }
        Ok(minimums
            .into_iter()
            .map(|m| {
                let key = (m.customer.clone(), m.media.clone(), m.repository.clone());
                ScratchLevel {
                    scratch: scratch.get(&key).copied().unwrap_or(0),
                    customer: m.customer,
                    media: m.media,
                    repository: m.repository,
                    minimum: m.minimum,
                }
            })
            .collect())
    }

    /// Checked ids of a customer's media and repository, each of which must exist.
    fn existing_place(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
    ) -> Result<(String, String, String), StoreError> {
        let customer = id(Field::Customer, customer)?;
        let media = id(Field::Media, media)?;
        let repository = id(Field::Repository, repository)?;
        let c = self.customer_dump(&customer)?;
        if !c.media.iter().any(|m| m.id == media) {
            return Err(StoreError::NotFound(format!(
                "media {media} of customer {customer}"
            )));
        }
        if !c.repositories.iter().any(|r| r.id == repository) {
            return Err(StoreError::NotFound(format!(
                "repository {repository} of customer {customer}"
            )));
        }
        Ok((customer, media, repository))
    }
}
