//! Customers, media types, repositories, and reading volumes, on PostgreSQL.

use super::{Conn, PgStore};
use crate::backend::InventorySql;
use crate::browse::{ListStatements, ListedVolume};
use crate::columns::{scope_table_query, Columns};
use crate::error::StoreError;
use crate::inventory::{audit_field, push_row, scratch_flag};
use crate::VolumeCount;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{GenericClient, IsolationLevel, Row};
use std::collections::BTreeMap;
use tapesync_model::{
    AuditEntry, CustomerDump, Field, MediaDump, RepositoryInfo, ScopeSnapshot, ScopeTable,
    VolumeState,
};

/// A stored version or count back as the model's unsigned number (damage if negative).
pub(super) fn unsigned(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("stored number {v} is negative")))
}

/// Reads the stored field columns that start at `offset` in `row`.
pub(super) fn read_fields(
    columns: &Columns,
    row: &Row,
    offset: usize,
) -> Result<BTreeMap<Field, String>, StoreError> {
    let mut fields = BTreeMap::new();
    for (i, field) in columns.fields.iter().enumerate() {
        if let Some(value) = row.try_get::<_, Option<&str>>(offset + i)? {
            fields.insert(*field, value.to_string());
        }
    }
    Ok(fields)
}

/// Text parameters as the client takes them.
fn params(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

pub(super) fn exists(
    client: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<bool, StoreError> {
    Ok(client.query_opt(sql, params)?.is_some())
}

pub(super) const CUSTOMER_EXISTS: &str = "SELECT 1 FROM customers WHERE id = $1";
pub(super) const MEDIA_EXISTS: &str = "SELECT 1 FROM media WHERE customer = $1 AND id = $2";
/// Moves the counter of `(customer, media)` (see `crate::batch::bump_customer`).
pub(super) const BUMP_VERSION: &str =
    "INSERT INTO scope_versions (customer, media, version) VALUES ($1, $2, 1)
     ON CONFLICT (customer, media) DO UPDATE SET version = scope_versions.version + 1";
/// The scope's version: its counter plus its customer's.
pub(super) const SCOPE_VERSION: &str =
    "SELECT COALESCE(SUM(version), 0)::BIGINT FROM scope_versions
     WHERE customer = $1 AND media IN ($2, '')";

/// Runs one INSERT of a customer's media or repository (or the customer) and, if it added a
/// row, moves the customer's counter in the same transaction.
fn insert_and_bump(
    conn: &mut Conn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    customer: &str,
) -> Result<bool, StoreError> {
    let mut tx = conn.client.transaction()?;
    let added = tx.execute(sql, params)? > 0;
    if added {
        tx.execute(BUMP_VERSION, &[&customer, &crate::batch::CUSTOMER_COUNTER])?;
    }
    tx.commit()?;
    Ok(added)
}

const REPOSITORIES: &str =
    "SELECT id, description FROM repositories WHERE customer = $1 ORDER BY id";

fn repositories(
    client: &mut impl GenericClient,
    customer: &str,
) -> Result<Vec<RepositoryInfo>, StoreError> {
    Ok(client
        .query(REPOSITORIES, &[&customer])?
        .iter()
        .map(|r| RepositoryInfo {
            id: r.get(0),
            description: r.get(1),
        })
        .collect())
}

/// Runs `f` in a read-only REPEATABLE READ transaction: one snapshot for everything it
/// reads, even while writers commit.
pub(super) fn snapshot<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = conn
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let out = f(&mut tx)?;
    tx.commit()?;
    Ok(out)
}

impl PgStore {
    /// `SELECT volume, version, <every column> FROM volumes WHERE <scope> …`.
    fn select_volumes(&self, filter: &str) -> String {
        format!(
            "SELECT volume, version, {} FROM volumes WHERE {filter}",
            self.columns.list
        )
    }
}

impl InventorySql for PgStore {
    fn insert_customer(&self, id: &str, name: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            insert_and_bump(
                c,
                "INSERT INTO customers (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, &name],
                id,
            )
        })
    }

    fn customer_exists(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|c| exists(&mut c.client, CUSTOMER_EXISTS, &[&id]))
    }

    fn insert_media(
        &self,
        customer: &str,
        id: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            insert_and_bump(
                c,
                "INSERT INTO media (customer, id, description) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&customer, &id, &description],
                customer,
            )
        })
    }

    fn insert_repository(
        &self,
        customer: &str,
        id: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            insert_and_bump(
                c,
                "INSERT INTO repositories (customer, id, description) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&customer, &id, &description],
                customer,
            )
        })
    }

    fn list_customers(&self) -> Result<Vec<CustomerDump>, StoreError> {
        self.with(|c| snapshot(c, list_customers))
    }

    fn repositories(&self, customer: &str) -> Result<Vec<RepositoryInfo>, StoreError> {
        self.with(|c| repositories(&mut c.client, customer))
    }

    fn download_scope(&self, customer: &str, media: &str) -> Result<ScopeSnapshot, StoreError> {
        let sql = self.select_volumes("customer = $1 AND media = $2 ORDER BY volume");
        self.with(|c| {
            snapshot(c, |tx| {
                let customer_exists = exists(tx, CUSTOMER_EXISTS, &[&customer])?;
                let media_exists = exists(tx, MEDIA_EXISTS, &[&customer, &media])?;
                let repositories = repositories(tx, customer)?;
                let mut rows = tx.query_raw(&sql, [customer, media])?;
                let mut volumes = Vec::new();
                while let Some(r) = rows.next()? {
                    volumes.push(VolumeState {
                        volume: r.try_get(0)?,
                        version: unsigned(r.try_get(1)?)?,
                        fields: read_fields(&self.columns, &r, 2)?,
                    });
                }
                Ok(ScopeSnapshot {
                    customer_exists,
                    media_exists,
                    repositories,
                    volumes,
                })
            })
        })
    }

    fn download_table_into(
        &self,
        customer: &str,
        media: &str,
        names: &[&'static str],
        table: &mut ScopeTable,
    ) -> Result<(), StoreError> {
        let sql = scope_table_query(names, "customer = $1 AND media = $2");
        self.with(|c| {
            let statement = PgStore::statement(c, &sql)?;
            snapshot(c, |tx| {
                table.customer_exists = exists(tx, CUSTOMER_EXISTS, &[&customer])?;
                table.media_exists = exists(tx, MEDIA_EXISTS, &[&customer, &media])?;
                table.repositories = repositories(tx, customer)?;
                table.scope_version =
                    unsigned(tx.query_one(SCOPE_VERSION, &[&customer, &media])?.get(0))?;
                // Rows stream in as they are read; each cell goes from the row's buffer
                // into the table's text.
                let mut rows = tx.query_raw(&statement, [customer, media])?;
                while let Some(row) = rows.next()? {
                    let volume: &str = row.try_get(0)?;
                    let v = unsigned(row.try_get(1)?)?;
                    push_row(table, (customer, media), volume, v, |i| {
                        row.try_get::<_, Option<&str>>(i + 2)
                    })?;
                }
                Ok(())
            })
        })
    }

    fn scope_versions(
        &self,
        scopes: &[(String, String)],
    ) -> Result<(String, Vec<u64>), StoreError> {
        self.with(|c| {
            let statement = PgStore::statement(c, SCOPE_VERSION)?;
            snapshot(c, |tx| {
                let identity: String = tx.query_one("SELECT id FROM store_identity", &[])?.get(0);
                let versions = scopes
                    .iter()
                    .map(|(customer, media)| {
                        unsigned(tx.query_one(&statement, &[customer, media])?.get(0))
                    })
                    .collect::<Result<_, _>>()?;
                Ok((identity, versions))
            })
        })
    }

    fn volume(
        &self,
        customer: &str,
        media: &str,
        volume: &str,
    ) -> Result<Option<VolumeState>, StoreError> {
        let sql = self.select_volumes("customer = $1 AND media = $2 AND volume = $3");
        self.with(|c| {
            let statement = PgStore::statement(c, &sql)?;
            c.client
                .query_opt(&statement, &[&customer, &media, &volume])?
                .map(|r| {
                    Ok(VolumeState {
                        volume: r.try_get(0)?,
                        version: unsigned(r.try_get(1)?)?,
                        fields: read_fields(&self.columns, &r, 2)?,
                    })
                })
                .transpose()
        })
    }

    fn volume_history(
        &self,
        customer: &str,
        media: &str,
        volume: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|c| {
            c.client
                .query(
                    crate::inventory::VOLUME_HISTORY_SQL
                        .replace('?', "$")
                        .as_str(),
                    &[&customer, &media, &volume],
                )?
                .iter()
                .map(|r| {
                    Ok(AuditEntry {
                        at: r.try_get(0)?,
                        user: r.try_get(1)?,
                        session: r.try_get(2)?,
                        field: audit_field(r.try_get(3)?)?,
                        old: r.try_get(4)?,
                        new: r.try_get(5)?,
                    })
                })
                .collect()
        })
    }

    fn placeholder(&self) -> fn(usize) -> String {
        crate::browse::postgres_placeholder
    }

    fn list_volumes(
        &self,
        statements: &ListStatements,
    ) -> Result<(u64, Vec<ListedVolume>), StoreError> {
        self.with(|c| {
            let count = PgStore::statement(c, &statements.count)?;
            let page = PgStore::statement(c, &statements.page)?;
            snapshot(c, |tx| {
                let total = unsigned(
                    tx.query_one(&count, &params(&statements.count_params))?
                        .try_get(0)?,
                )?;
                let volumes = tx
                    .query(&page, &params(&statements.page_params))?
                    .iter()
                    .map(|r| {
                        Ok(ListedVolume {
                            media: r.try_get(0)?,
                            volume: VolumeState {
                                volume: r.try_get(1)?,
                                version: unsigned(r.try_get(2)?)?,
                                fields: read_fields(&self.columns, r, 3)?,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok((total, volumes))
            })
        })
    }

    fn volume_counts(&self, customer: &str) -> Result<Vec<VolumeCount>, StoreError> {
        self.with(|c| {
            c.client
                .query(
                    "SELECT media, repository, scratch, count(*) FROM volumes WHERE customer = $1
                     GROUP BY media, repository, scratch
                     ORDER BY media, repository NULLS FIRST, scratch NULLS FIRST",
                    &[&customer],
                )?
                .iter()
                .map(|r| {
                    Ok(VolumeCount {
                        media: r.try_get(0)?,
                        repository: r.try_get(1)?,
                        scratch: scratch_flag(r.try_get(2)?),
                        count: unsigned(r.try_get(3)?)?,
                    })
                })
                .collect()
        })
    }
}

/// Customers with their media and repositories (inside the caller's snapshot).
pub(super) fn list_customers(
    tx: &mut postgres::Transaction<'_>,
) -> Result<Vec<CustomerDump>, StoreError> {
    let mut customers: Vec<CustomerDump> = tx
        .query("SELECT id, name FROM customers ORDER BY id", &[])?
        .iter()
        .map(|r| CustomerDump {
            id: r.get(0),
            name: r.get(1),
            media: Vec::new(),
            repositories: Vec::new(),
        })
        .collect();
    for r in tx.query(
        "SELECT customer, id, description FROM media ORDER BY customer, id",
        &[],
    )? {
        let customer: &str = r.get(0);
        if let Some(c) = customers.iter_mut().find(|c| c.id == customer) {
            c.media.push(MediaDump {
                id: r.get(1),
                description: r.get(2),
            });
        }
    }
    for r in tx.query(
        "SELECT customer, id, description FROM repositories ORDER BY customer, id",
        &[],
    )? {
        let customer: &str = r.get(0);
        if let Some(c) = customers.iter_mut().find(|c| c.id == customer) {
            c.repositories.push(RepositoryInfo {
                id: r.get(1),
                description: r.get(2),
            });
        }
    }
    Ok(customers)
}
