//! Customers, media types, repositories, and reading volumes.

use crate::error::StoreError;
use crate::validate::{check_description, id, scope_ids, volume_id, NAME_MAX};
use crate::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tapesync_model::{
    AuditEntry, CustomerDump, Field, RepositoryInfo, ScopeKey, ScopeSnapshot, ScopeTable,
    ScopeVersion, ScopeVersions, VolumeState,
};

/// How many volumes of a customer share one media type, repository and scratch state (the
/// web page's overview).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeCount {
    pub media: String,
    pub repository: Option<String>,
    pub scratch: Option<bool>,
    pub count: u64,
}

impl Store {
    /// Adds a customer. It is a conflict if the customer exists.
    pub fn add_customer(&self, id: &str, name: &str) -> Result<(), StoreError> {
        let id = self::id(Field::Customer, id)?;
        check_description(Field::Customer, name, NAME_MAX)?;
        if !self.backend.insert_customer(&id, name)? {
            return Err(StoreError::Conflict(format!(
                "customer {id} exists already"
            )));
        }
        Ok(())
    }

    /// Adds a media type to an existing customer.
    pub fn add_media(&self, customer: &str, id: &str, description: &str) -> Result<(), StoreError> {
        let customer = self.existing_customer(customer)?;
        let id = self::id(Field::Media, id)?;
        check_description(Field::Media, description, NAME_MAX)?;
        if !self.backend.insert_media(&customer, &id, description)? {
            return Err(StoreError::Conflict(format!(
                "media {id} of customer {customer} exists already"
            )));
        }
        Ok(())
    }

    /// Adds a repository (description at most 20 characters) to an existing customer.
    pub fn add_repository(
        &self,
        customer: &str,
        id: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        let customer = self.existing_customer(customer)?;
        let id = self::id(Field::Repository, id)?;
        check_description(
            Field::RepositoryDesc,
            description,
            Field::RepositoryDesc.max_len(),
        )?;
        if !self
            .backend
            .insert_repository(&customer, &id, description)?
        {
            return Err(StoreError::Conflict(format!(
                "repository {id} of customer {customer} exists already"
            )));
        }
        Ok(())
    }

    fn existing_customer(&self, customer: &str) -> Result<String, StoreError> {
        let customer = id(Field::Customer, customer)?;
        if self.backend.customer_exists(&customer)? {
            Ok(customer)
        } else {
            Err(StoreError::NotFound(format!("customer {customer}")))
        }
    }

    /// Every customer with its media types and repositories, sorted by id.
    pub fn list_customers(&self) -> Result<Vec<CustomerDump>, StoreError> {
        self.backend.list_customers()
    }

    /// The repositories of one customer, sorted by id.
    pub fn repositories(&self, customer: &str) -> Result<Vec<RepositoryInfo>, StoreError> {
        self.backend.repositories(customer)
    }

    /// Everything a sync session caches for one scope: whether customer and media exist, the
    /// customer's repositories, and every volume of the scope sorted by volume id. Read in one
    /// transaction, so the snapshot is consistent even while a writer commits.
    pub fn download_scope(&self, scope: &ScopeKey) -> Result<ScopeSnapshot, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        self.backend.download_scope(&customer, &media)
    }

    /// The scope as a [`ScopeTable`] of `columns`: what [`Store::download_scope`] returns, but
    /// only the requested fields, read straight into the table's text (no string per value).
    /// A column that is not a stored volume field (CUSTOMER, REPOSITORY_DESC, USERn, …) is
    /// [`StoreError::Invalid`].
    pub fn download_table(
        &self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, StoreError> {
        let mut table = ScopeTable::new(columns);
        self.download_table_into(scope, columns, &mut table)?;
        Ok(table)
    }

    /// [`Store::download_table`] into an existing table (emptied first, its allocations
    /// reused). On an error the table's content is unspecified.
    pub fn download_table_into(
        &self,
        scope: &ScopeKey,
        columns: &[Field],
        table: &mut ScopeTable,
    ) -> Result<(), StoreError> {
        let (customer, media) = scope_ids(scope)?;
        let mut names = Vec::with_capacity(columns.len());
        for (i, field) in columns.iter().enumerate() {
            let name = crate::columns::column(*field)
                .ok_or_else(|| StoreError::invalid(Some(*field), "is not a stored volume field"))?;
            if columns[..i].contains(field) {
                return Err(StoreError::invalid(Some(*field), "is requested twice"));
            }
            names.push(name);
        }
        table.reset(columns);
        self.backend
            .download_table_into(&customer, &media, &names, table)
    }

    /// The store's identity and the current version of each of `scopes`, from one snapshot
    /// (see [`ScopeVersions`]): a client that kept a scope's table from a download at the
    /// same version of the same store holds exactly what a download would return now.
    /// The answer lists the scopes in the order asked; a scope that does not exist has
    /// version 0.
    pub fn scope_versions(&self, scopes: &[ScopeKey]) -> Result<ScopeVersions, StoreError> {
        let ids = scopes
            .iter()
            .map(scope_ids)
            .collect::<Result<Vec<_>, _>>()?;
        let (store, versions) = self.backend.scope_versions(&ids)?;
        Ok(ScopeVersions {
            store,
            scopes: ids
                .into_iter()
                .zip(versions)
                .map(|((customer, media), version)| ScopeVersion {
                    customer,
                    media,
                    version,
                })
                .collect(),
        })
    }

    /// One volume, or `None` if the scope has no such volume.
    pub fn volume(
        &self,
        scope: &ScopeKey,
        volume: &str,
    ) -> Result<Option<VolumeState>, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        let volume = volume_id(volume)?;
        self.backend.volume(&customer, &media, &volume)
    }

    /// The audit trail of one volume, oldest first.
    pub fn volume_history(
        &self,
        scope: &ScopeKey,
        volume: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        let volume = volume_id(volume)?;
        self.backend.volume_history(&customer, &media, &volume)
    }

    /// Volume counts of a customer by media, repository and scratch state.
    pub fn volume_counts(&self, customer: &str) -> Result<Vec<VolumeCount>, StoreError> {
        let customer = id(Field::Customer, customer)?;
        self.backend.volume_counts(&customer)
    }

    /// Volume counts of every customer (the admin overview), keyed by customer.
    pub fn volume_counts_all(&self) -> Result<BTreeMap<String, Vec<VolumeCount>>, StoreError> {
        let mut out = BTreeMap::new();
        for c in self.list_customers()? {
            let counts = self.volume_counts(&c.id)?;
            out.insert(c.id, counts);
        }
        Ok(out)
    }
}

/// Appends one volume of a scope download to `table`, its cells read by `cell(i)` for each of
/// the table's columns (straight from the database's row buffer; both backends).
pub(crate) fn push_row<'r, E: Into<StoreError>>(
    table: &mut ScopeTable,
    scope: (&str, &str),
    volume: &str,
    version: u64,
    mut cell: impl FnMut(usize) -> Result<Option<&'r str>, E>,
) -> Result<(), StoreError> {
    // The first bad cell (if any) is kept aside: `push` takes plain values.
    let mut bad = None;
    let cells = (0..table.columns().len()).map(|i| {
        cell(i).unwrap_or_else(|e| {
            bad.get_or_insert(e);
            None
        })
    });
    let pushed = table.push(volume, version, cells);
    if let Some(e) = bad {
        return Err(e.into());
    }
    pushed.map_err(|e| {
        StoreError::Corrupt(format!(
            "scope {}/{}, volume {volume}: {e}",
            scope.0, scope.1
        ))
    })
}

/// A volume's audit rows, oldest first (parameters: customer, media, volume; SQLite's `?n`,
/// PostgreSQL's `$n` after replacing `?`): the rows written since schema step 9 by following
/// the chain from the volume's `last_audit` back through `previous`, and those written before
/// off the index that holds only them (see `batch::chain_audit`). Every chained row is newer
/// than every row from before, so ordering by id keeps the order they were written in.
pub(crate) const VOLUME_HISTORY_SQL: &str = "WITH RECURSIVE chain(id) AS (
    SELECT last_audit FROM volumes
    WHERE customer = ?1 AND media = ?2 AND volume = ?3 AND last_audit IS NOT NULL
    UNION ALL
    SELECT audit.previous FROM audit JOIN chain ON audit.id = chain.id
    WHERE audit.previous <> 0
)
SELECT at, actor, session, field, old, new FROM (
    SELECT id, at, actor, session, field, old, new FROM audit
    WHERE id IN (SELECT id FROM chain)
    UNION ALL
    SELECT id, at, actor, session, field, old, new FROM audit
    WHERE customer = ?1 AND media = ?2 AND volume = ?3 AND previous IS NULL
) AS history
ORDER BY id";

/// An audit row's field name back as a field (damage if unknown).
pub(crate) fn audit_field(name: &str) -> Result<Field, StoreError> {
    Field::lookup(name)
        .ok_or_else(|| StoreError::Corrupt(format!("audit names unknown field {name}")))
}

/// The scratch column's text as the overview's flag.
pub(crate) fn scratch_flag(text: Option<String>) -> Option<bool> {
    text.map(|s| s == "true")
}
