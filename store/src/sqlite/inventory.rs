//! Customers, media types, repositories, and reading volumes, on SQLite.

use super::SqliteStore;
use crate::backend::InventorySql;
use crate::browse::{ListStatements, ListedVolume};
use crate::columns::{scope_table_query, Columns};
use crate::error::StoreError;
use crate::inventory::{audit_field, push_row, scratch_flag};
use crate::VolumeCount;
use rusqlite::types::ValueRef;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;
use tapesync_model::{
    AuditEntry, CustomerDump, Field, MediaDump, RepositoryInfo, ScopeSnapshot, ScopeTable,
    VolumeState,
};

/// Reads the stored field columns that start at `offset` in `row`.
pub(super) fn read_fields(
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

pub(super) fn customer_exists(conn: &Connection, customer: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM customers WHERE id = ?1")?
        .exists([customer])?)
}

/// Moves the counter of `(customer, media)` (see `crate::batch::bump_customer`).
pub(super) fn bump_version(
    conn: &Connection,
    customer: &str,
    media: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO scope_versions (customer, media, version) VALUES (?1, ?2, 1)
         ON CONFLICT (customer, media) DO UPDATE SET version = scope_versions.version + 1",
    )?
    .execute([customer, media])?;
    Ok(())
}

/// The scope's version: its counter plus its customer's.
pub(super) fn scope_version(
    conn: &Connection,
    customer: &str,
    media: &str,
) -> Result<u64, StoreError> {
    let v: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(version), 0) FROM scope_versions
             WHERE customer = ?1 AND media IN (?2, '')",
        )?
        .query_row([customer, media], |r| r.get(0))?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("scope version {v} is negative")))
}

/// Runs one INSERT of a customer's media or repository (or the customer) and, if it added a
/// row, moves the customer's counter in the same transaction.
fn insert_and_bump(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    customer: &str,
) -> Result<bool, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let added = tx.execute(sql, params)? > 0;
    if added {
        bump_version(&tx, customer, crate::batch::CUSTOMER_COUNTER)?;
    }
    tx.commit()?;
    Ok(added)
}

pub(super) fn media_exists(
    conn: &Connection,
    customer: &str,
    media: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM media WHERE customer = ?1 AND id = ?2")?
        .exists([customer, media])?)
}

impl InventorySql for SqliteStore {
    fn insert_customer(&self, id: &str, name: &str) -> Result<bool, StoreError> {
        insert_and_bump(
            &self.conn,
            "INSERT INTO customers (id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![id, name],
            id,
        )
    }

    fn customer_exists(&self, id: &str) -> Result<bool, StoreError> {
        customer_exists(&self.conn, id)
    }

    fn insert_media(
        &self,
        customer: &str,
        id: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        insert_and_bump(
            &self.conn,
            "INSERT INTO media (customer, id, description) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![customer, id, description],
            customer,
        )
    }

    fn insert_repository(
        &self,
        customer: &str,
        id: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        insert_and_bump(
            &self.conn,
            "INSERT INTO repositories (customer, id, description) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![customer, id, description],
            customer,
        )
    }

    fn list_customers(&self) -> Result<Vec<CustomerDump>, StoreError> {
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

    fn repositories(&self, customer: &str) -> Result<Vec<RepositoryInfo>, StoreError> {
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

    fn download_scope(&self, customer: &str, media: &str) -> Result<ScopeSnapshot, StoreError> {
        // One read transaction, so the snapshot is consistent even while a writer commits.
        let tx = self.conn.unchecked_transaction()?;
        let customer_exists = customer_exists(&self.conn, customer)?;
        let media_exists = media_exists(&self.conn, customer, media)?;
        let repositories = self.repositories(customer)?;
        let columns = &self.sql.columns;
        let sql = format!(
            "SELECT volume, version, {} FROM volumes
             WHERE customer = ?1 AND media = ?2 ORDER BY volume",
            columns.list
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let volumes = stmt
            .query_map(params![customer, media], |r| {
                Ok(VolumeState {
                    volume: r.get(0)?,
                    version: r.get(1)?,
                    fields: read_fields(columns, r, 2)?,
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

    fn download_table_into(
        &self,
        customer: &str,
        media: &str,
        names: &[&'static str],
        table: &mut ScopeTable,
    ) -> Result<(), StoreError> {
        // One read transaction, so the table is consistent even while a writer commits.
        let tx = self.conn.unchecked_transaction()?;
        table.customer_exists = customer_exists(&self.conn, customer)?;
        table.media_exists = media_exists(&self.conn, customer, media)?;
        table.repositories = self.repositories(customer)?;
        table.scope_version = scope_version(&self.conn, customer, media)?;
        // Size the table first (a count off the index): growing a large table step by step
        // costs more in fresh pages than the count costs.
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM volumes WHERE customer = ?1 AND media = ?2")?
            .query_row(params![customer, media], |r| r.get(0))?;
        let count = usize::try_from(count).unwrap_or(0);
        // An estimate of the text: the Volume-ID plus a short value per column.
        table.reserve(count, count.saturating_mul(10 + 8 * names.len()));
        let sql = scope_table_query(names, "customer = ?1 AND media = ?2");
        // The statement text depends on the columns; a sync asks with the same columns for
        // every scope, so the cache keeps it prepared.
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![customer, media])?;
        while let Some(row) = rows.next()? {
            let volume = text_ref(row, 0)?.unwrap_or_default();
            let version: u64 = row.get(1)?;
            push_row(table, (customer, media), volume, version, |i| {
                text_ref(row, i + 2)
            })?;
        }
        drop(rows);
        drop(stmt);
        tx.finish()?;
        Ok(())
    }

    fn scope_versions(
        &self,
        scopes: &[(String, String)],
    ) -> Result<(String, Vec<u64>), StoreError> {
        // One read transaction: the identity and every version from one snapshot.
        let tx = self.conn.unchecked_transaction()?;
        let identity: String = tx.query_row("SELECT id FROM store_identity", [], |r| r.get(0))?;
        let versions = scopes
            .iter()
            .map(|(customer, media)| scope_version(&tx, customer, media))
            .collect::<Result<_, _>>()?;
        tx.finish()?;
        Ok((identity, versions))
    }

    fn volume(
        &self,
        customer: &str,
        media: &str,
        volume: &str,
    ) -> Result<Option<VolumeState>, StoreError> {
        let columns = &self.sql.columns;
        let sql = format!(
            "SELECT volume, version, {} FROM volumes
             WHERE customer = ?1 AND media = ?2 AND volume = ?3",
            columns.list
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![customer, media, volume], |r| {
                Ok(VolumeState {
                    volume: r.get(0)?,
                    version: r.get(1)?,
                    fields: read_fields(columns, r, 2)?,
                })
            })
            .optional()?)
    }

    fn volume_history(
        &self,
        customer: &str,
        media: &str,
        volume: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(crate::inventory::VOLUME_HISTORY_SQL)?;
        let mut rows = stmt.query(params![customer, media, volume])?;
        let mut entries = Vec::new();
        while let Some(r) = rows.next()? {
            let name: String = r.get(3)?;
            entries.push(AuditEntry {
                at: r.get(0)?,
                user: r.get(1)?,
                session: r.get(2)?,
                field: audit_field(&name)?,
                old: r.get(4)?,
                new: r.get(5)?,
            });
        }
        Ok(entries)
    }

    fn placeholder(&self) -> fn(usize) -> String {
        crate::browse::sqlite_placeholder
    }

    fn list_volumes(
        &self,
        statements: &ListStatements,
    ) -> Result<(u64, Vec<ListedVolume>), StoreError> {
        // One read transaction: the count and the page see the same volumes.
        let tx = self.conn.unchecked_transaction()?;
        let total: u64 = self
            .conn
            .prepare_cached(&statements.count)?
            .query_row(params_from_iter(&statements.count_params), |r| r.get(0))?;
        let columns = &self.sql.columns;
        let volumes = self
            .conn
            .prepare_cached(&statements.page)?
            .query_map(params_from_iter(&statements.page_params), |r| {
                Ok(ListedVolume {
                    media: r.get(0)?,
                    volume: VolumeState {
                        volume: r.get(1)?,
                        version: r.get(2)?,
                        fields: read_fields(columns, r, 3)?,
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        tx.finish()?;
        Ok((total, volumes))
    }

    fn volume_counts(&self, customer: &str) -> Result<Vec<VolumeCount>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT media, repository, scratch, count(*) FROM volumes WHERE customer = ?1
             GROUP BY media, repository, scratch ORDER BY media, repository, scratch",
        )?;
        let rows = stmt.query_map([customer], |r| {
            Ok(VolumeCount {
                media: r.get(0)?,
                repository: r.get(1)?,
                scratch: scratch_flag(r.get(2)?),
                count: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
