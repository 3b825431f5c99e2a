//! Customers, media types, repositories, and reading volumes.

use crate::error::{invalid_value, StoreError};
use crate::schema::Columns;
use crate::Store;
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tapesync_model::{
    validate_id, validate_volume_id, AuditEntry, CustomerDump, Field, MediaDump, RepositoryInfo,
    ScopeKey, ScopeSnapshot, ScopeTable, VolumeState,
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

/// Checks an identifier of `field`'s kind and returns its canonical (upper-case) form.
pub(crate) fn id(field: Field, raw: &str) -> Result<String, StoreError> {
    validate_id(field, raw).map_err(|e| invalid_value(None, field, e))
}

pub(crate) fn volume_id(raw: &str) -> Result<String, StoreError> {
    validate_volume_id(raw).map_err(|e| invalid_value(Some(raw), Field::Volume, e))
}

pub(crate) fn scope_ids(scope: &ScopeKey) -> Result<(String, String), StoreError> {
    Ok((
        id(Field::Customer, &scope.customer)?,
        id(Field::Media, &scope.media)?,
    ))
}

/// Reads the stored field columns that start at `offset` in `row`.
pub(crate) fn read_fields(
    columns: &Columns,
    row: &Row<'_>,
    offset: usize,
) -> rusqlite::Result<BTreeMap<Field, String>> {
    let mut fields = BTreeMap::new();
    for (i, field) in columns.fields.iter().enumerate() {
        // Most columns of a volume are NULL: look at the raw value first, and convert (the
        // same way `Row::get::<Option<String>>` does) only what is there. Scope downloads
        // read every column of every volume, so this loop is hot.
        match row.get_ref(offset + i)? {
            ValueRef::Null => {}
            ValueRef::Text(bytes) => {
                let text = std::str::from_utf8(bytes).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        offset + i,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?;
                fields.insert(*field, text.to_string());
            }
            _ => {
                if let Some(value) = row.get::<_, Option<String>>(offset + i)? {
                    fields.insert(*field, value);
                }
            }
        }
    }
    Ok(fields)
}

/// The text of column `i` without copying it; `None` for NULL. Columns are TEXT, so anything
/// else is damage (a manual edit), reported as such rather than converted.
fn text_ref<'r>(row: &'r Row<'_>, i: usize) -> Result<Option<&'r str>, StoreError> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("stored text is not UTF-8: {e}"))),
        other => Err(StoreError::Corrupt(format!(
            "a volume column holds a {} instead of text",
            other.data_type()
        ))),
    }
}

fn check_description(field: Field, text: &str, max: usize) -> Result<(), StoreError> {
    let len = text.chars().count();
    if len > max {
        return Err(StoreError::invalid(
            Some(field),
            format!("description is {len} characters long; at most {max} fit"),
        ));
    }
    Ok(())
}

/// Longest description of a media type or name of a customer (the volume DESCRIPTION limit).
const NAME_MAX: usize = 256;

impl Store {
    /// Adds a customer. It is a conflict if the customer exists.
    pub fn add_customer(&self, id: &str, name: &str) -> Result<(), StoreError> {
        let id = self::id(Field::Customer, id)?;
        check_description(Field::Customer, name, NAME_MAX)?;
        let added = self.conn.execute(
            "INSERT INTO customers (id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![id, name],
        )?;
        if added == 0 {
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
        let added = self.conn.execute(
            "INSERT INTO media (customer, id, description) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![customer, id, description],
        )?;
        if added == 0 {
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
        let added = self.conn.execute(
            "INSERT INTO repositories (customer, id, description) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![customer, id, description],
        )?;
        if added == 0 {
            return Err(StoreError::Conflict(format!(
                "repository {id} of customer {customer} exists already"
            )));
        }
        Ok(())
    }

    fn existing_customer(&self, customer: &str) -> Result<String, StoreError> {
        let customer = id(Field::Customer, customer)?;
        if self.customer_exists(&customer)? {
            Ok(customer)
        } else {
            Err(StoreError::NotFound(format!("customer {customer}")))
        }
    }

    pub(crate) fn customer_exists(&self, customer: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
            .exists([customer])?)
    }

    /// Every customer with its media types and repositories, sorted by id.
    pub fn list_customers(&self) -> Result<Vec<CustomerDump>, StoreError> {
        let mut customers: Vec<CustomerDump> = self
            .conn
            .prepare_cached("SELECT id, name FROM customers ORDER BY id")?
            .query_map([], |r| {
                Ok(CustomerDump {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    media: Vec::new(),
                    repositories: Vec::new(),
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut media = self
            .conn
            .prepare_cached("SELECT customer, id, description FROM media ORDER BY customer, id")?;
        let mut media_rows = media.query([])?;
        while let Some(r) = media_rows.next()? {
            let customer: String = r.get(0)?;
            if let Some(c) = customers.iter_mut().find(|c| c.id == customer) {
                c.media.push(MediaDump {
                    id: r.get(1)?,
                    description: r.get(2)?,
                });
            }
        }
        for c in &mut customers {
            c.repositories = self.repositories(&c.id)?;
        }
        Ok(customers)
    }

    /// The repositories of one customer, sorted by id.
    pub fn repositories(&self, customer: &str) -> Result<Vec<RepositoryInfo>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, description FROM repositories WHERE customer = ?1 ORDER BY id",
            )?
            .query_map([customer], |r| {
                Ok(RepositoryInfo {
                    id: r.get(0)?,
                    description: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    /// Everything a sync session caches for one scope: whether customer and media exist, the
    /// customer's repositories, and every volume of the scope sorted by volume id.
    pub fn download_scope(&self, scope: &ScopeKey) -> Result<ScopeSnapshot, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        // One read transaction, so the snapshot is consistent even while a writer commits.
        let tx = self.conn.unchecked_transaction()?;
        let customer_exists = self.customer_exists(&customer)?;
        let media_exists = self
            .conn
            .prepare_cached("SELECT 1 FROM media WHERE customer = ?1 AND id = ?2")?
            .exists(params![customer, media])?;
        let repositories = self.repositories(&customer)?;
        let sql = format!(
            "SELECT volume, version, {} FROM volumes
             WHERE customer = ?1 AND media = ?2 ORDER BY volume",
            self.columns.list
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let volumes = stmt
            .query_map(params![customer, media], |r| {
                Ok(VolumeState {
                    volume: r.get(0)?,
                    version: r.get(1)?,
                    fields: read_fields(&self.columns, r, 2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        tx.finish()?;
        Ok(ScopeSnapshot {
            customer_exists,
            media_exists,
            repositories,
            volumes,
        })
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
            let name = crate::schema::column(*field)
                .ok_or_else(|| StoreError::invalid(Some(*field), "is not a stored volume field"))?;
            if columns[..i].contains(field) {
                return Err(StoreError::invalid(Some(*field), "is requested twice"));
            }
            names.push(name);
        }
        table.reset(columns);
        // One read transaction, so the table is consistent even while a writer commits.
        let tx = self.conn.unchecked_transaction()?;
        table.customer_exists = self.customer_exists(&customer)?;
        table.media_exists = self
            .conn
            .prepare_cached("SELECT 1 FROM media WHERE customer = ?1 AND id = ?2")?
            .exists(params![customer, media])?;
        table.repositories = self.repositories(&customer)?;
        // Size the table first (a count off the index): growing a large table step by step
        // costs more in fresh pages than the count costs.
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM volumes WHERE customer = ?1 AND media = ?2")?
            .query_row(params![customer, media], |r| r.get(0))?;
        let count = usize::try_from(count).unwrap_or(0);
        // An estimate of the text: the Volume-ID plus a short value per column.
        table.reserve(count, count.saturating_mul(10 + 8 * columns.len()));
        let mut sql = String::from("SELECT volume, version");
        for name in &names {
            sql.push_str(", ");
            sql.push_str(name);
        }
        sql.push_str(" FROM volumes WHERE customer = ?1 AND media = ?2 ORDER BY volume");
        // The statement text depends on the columns; a sync asks with the same columns for
        // every scope, so the cache keeps it prepared.
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![customer, media])?;
        while let Some(row) = rows.next()? {
            let volume = text_ref(row, 0)?.unwrap_or_default();
            let version: u64 = row.get(1)?;
            // Cells go from SQLite's buffer into the table's text; the first bad one (if any)
            // is kept aside because `push` takes plain values.
            let mut bad = None;
            let cells = (2..2 + columns.len()).map(|i| {
                text_ref(row, i).unwrap_or_else(|e| {
                    bad.get_or_insert(e);
                    None
                })
            });
            let pushed = table.push(volume, version, cells);
            if let Some(e) = bad {
                return Err(e);
            }
            pushed.map_err(|e| {
                StoreError::Corrupt(format!("scope {customer}/{media}, volume {volume}: {e}"))
            })?;
        }
        drop(rows);
        drop(stmt);
        tx.finish()?;
        Ok(())
    }

    /// One volume, or `None` if the scope has no such volume.
    pub fn volume(
        &self,
        scope: &ScopeKey,
        volume: &str,
    ) -> Result<Option<VolumeState>, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        let volume = volume_id(volume)?;
        let sql = format!(
            "SELECT volume, version, {} FROM volumes
             WHERE customer = ?1 AND media = ?2 AND volume = ?3",
            self.columns.list
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![customer, media, volume], |r| {
                Ok(VolumeState {
                    volume: r.get(0)?,
                    version: r.get(1)?,
                    fields: read_fields(&self.columns, r, 2)?,
                })
            })
            .optional()?)
    }

    /// The audit trail of one volume, oldest first.
    pub fn volume_history(
        &self,
        scope: &ScopeKey,
        volume: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (customer, media) = scope_ids(scope)?;
        let volume = volume_id(volume)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, actor, session, field, old, new FROM audit
             WHERE customer = ?1 AND media = ?2 AND volume = ?3 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![customer, media, volume])?;
        let mut entries = Vec::new();
        while let Some(r) = rows.next()? {
            let name: String = r.get(3)?;
            let field = Field::lookup(&name)
                .ok_or_else(|| StoreError::Corrupt(format!("audit names unknown field {name}")))?;
            entries.push(AuditEntry {
                at: r.get(0)?,
                user: r.get(1)?,
                session: r.get(2)?,
                field,
                old: r.get(4)?,
                new: r.get(5)?,
            });
        }
        Ok(entries)
    }

    /// Volume counts of a customer by media, repository and scratch state.
    pub fn volume_counts(&self, customer: &str) -> Result<Vec<VolumeCount>, StoreError> {
        let customer = id(Field::Customer, customer)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT media, repository, scratch, count(*) FROM volumes WHERE customer = ?1
             GROUP BY media, repository, scratch ORDER BY media, repository, scratch",
        )?;
        let rows = stmt.query_map([customer], |r| {
            let scratch: Option<String> = r.get(2)?;
            Ok(VolumeCount {
                media: r.get(0)?,
                repository: r.get(1)?,
                scratch: scratch.map(|s| s == "true"),
                count: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
