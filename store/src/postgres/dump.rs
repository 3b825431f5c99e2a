//! Whole-inventory export and import on PostgreSQL.

use super::apply::PgTx;
use super::inventory::{list_customers, read_fields, snapshot, unsigned};
use super::PgStore;
use crate::backend::DumpSql;
use crate::batch::ScopeTx;
use crate::error::StoreError;
use crate::validate::CheckedCustomer;
use postgres::fallible_iterator::FallibleIterator;
use std::collections::HashSet;
use tapesync_model::{InventoryDump, VolumeDump};

impl DumpSql for PgStore {
    fn export(&self) -> Result<InventoryDump, StoreError> {
        let sql = format!(
            "SELECT customer, media, volume, version, {} FROM volumes
             ORDER BY customer, media, volume",
            self.columns.list
        );
        self.with(|c| {
            snapshot(c, |tx| {
                let customers = list_customers(tx)?;
                let mut rows = tx.query_raw(&sql, std::iter::empty::<&str>())?;
                let mut volumes = Vec::new();
                while let Some(r) = rows.next()? {
                    volumes.push(VolumeDump {
                        customer: r.try_get(0)?,
                        media: r.try_get(1)?,
                        volume: r.try_get(2)?,
                        version: Some(unsigned(r.try_get(3)?)?),
                        fields: read_fields(&self.columns, &r, 4)?,
                    });
                }
                Ok(InventoryDump { customers, volumes })
            })
        })
    }

    fn import(
        &mut self,
        customers: &[CheckedCustomer],
        load: &mut dyn FnMut(&mut dyn ScopeTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let columns = &self.columns;
        self.with(|conn| {
            let mut tx = conn.client.transaction()?;
            for customer in customers {
                tx.execute(
                    "INSERT INTO customers (id, name) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                    &[&customer.id, &customer.name],
                )?;
                for (id, description) in &customer.media {
                    tx.execute(
                        "INSERT INTO media (customer, id, description) VALUES ($1, $2, $3)
                         ON CONFLICT (customer, id) DO UPDATE SET description = excluded.description",
                        &[&customer.id, id, description],
                    )?;
                }
                for (id, description) in &customer.repositories {
                    tx.execute(
                        "INSERT INTO repositories (customer, id, description) VALUES ($1, $2, $3)
                         ON CONFLICT (customer, id) DO UPDATE SET description = excluded.description",
                        &[&customer.id, id, description],
                    )?;
                }
            }
            // `PgTx` locks every scope it reads or writes volumes of, as a batch does, so an
            // import and a sync of one scope never interleave.
            let mut inner = PgTx {
                tx: &mut tx,
                statements: &mut conn.statements,
                columns,
                locked: HashSet::new(),
            };
            load(&mut inner)?;
            tx.commit()?;
            // A large import changes the table's make-up at once; the planner should not wait
            // for autovacuum to learn of it.
            conn.client.batch_execute("ANALYZE volumes")?;
            Ok(())
        })
    }
}
