//! Whole-inventory export and import on SQLite.

use super::apply::SqliteTx;
use super::inventory::read_fields;
use super::SqliteStore;
use crate::backend::{DumpSql, InventorySql};
use crate::batch::ScopeTx;
use crate::error::StoreError;
use crate::validate::CheckedCustomer;
use rusqlite::{params, TransactionBehavior};
use tapesync_model::{InventoryDump, VolumeDump};

impl DumpSql for SqliteStore {
    fn export(&self) -> Result<InventoryDump, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let customers = self.list_customers()?;
        let columns = &self.sql.columns;
        let sql = format!(
            "SELECT customer, media, volume, version, {} FROM volumes
             ORDER BY customer, media, volume",
            columns.list
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let volumes = stmt
            .query_map([], |r| {
                Ok(VolumeDump {
                    customer: r.get(0)?,
                    media: r.get(1)?,
                    volume: r.get(2)?,
                    version: Some(r.get(3)?),
                    fields: read_fields(columns, r, 4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        tx.finish()?;
        Ok(InventoryDump { customers, volumes })
    }

    fn import(
        &mut self,
        customers: &[CheckedCustomer],
        load: &mut dyn FnMut(&mut dyn ScopeTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for customer in customers {
            tx.prepare_cached(
                "INSERT INTO customers (id, name) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![customer.id, customer.name])?;
            for (id, description) in &customer.media {
                tx.prepare_cached(
                    "INSERT INTO media (customer, id, description) VALUES (?1, ?2, ?3)
                     ON CONFLICT (customer, id) DO UPDATE SET description = excluded.description",
                )?
                .execute(params![customer.id, id, description])?;
            }
            for (id, description) in &customer.repositories {
                tx.prepare_cached(
                    "INSERT INTO repositories (customer, id, description) VALUES (?1, ?2, ?3)
                     ON CONFLICT (customer, id) DO UPDATE SET description = excluded.description",
                )?
                .execute(params![customer.id, id, description])?;
            }
        }
        load(&mut SqliteTx {
            conn: &tx,
            sql: &self.sql,
        })?;
        tx.commit()?;
        Ok(())
    }
}
