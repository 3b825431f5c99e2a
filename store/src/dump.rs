//! Whole-inventory import and export as [`InventoryDump`] (plain, sorted data).

use crate::apply::BatchContext;
use crate::clock::now_text;
use crate::error::{invalid_value, StoreError};
use crate::inventory::{id, read_fields, volume_id};
use crate::Store;
use rusqlite::{params, TransactionBehavior};
use std::collections::HashSet;
use tapesync_model::{canonicalise, Field, InventoryDump, VolumeDump};

/// The actor named in audit rows written by an import.
const IMPORT_ACTOR: &str = "import";

impl Store {
    /// The whole inventory: customers with media and repositories, then every volume, all
    /// sorted by id, with versions and no timestamps.
    pub fn export(&self) -> Result<InventoryDump, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let customers = self.list_customers()?;
        let sql = format!(
            "SELECT customer, media, volume, version, {} FROM volumes
             ORDER BY customer, media, volume",
            self.columns.list
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let volumes = stmt
            .query_map([], |r| {
                Ok(VolumeDump {
                    customer: r.get(0)?,
                    media: r.get(1)?,
                    volume: r.get(2)?,
                    version: Some(r.get(3)?),
                    fields: read_fields(&self.columns, r, 4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        tx.finish()?;
        Ok(InventoryDump { customers, volumes })
    }

    /// Loads a dump in one transaction, merging it into what the store holds: customers,
    /// media and repositories are added or have their name/description replaced; a volume is
    /// added (version 1) or, if its fields differ, replaced by the dump's fields (version + 1,
    /// audited as `import`). Volume versions in the dump are ignored. Any invalid entry
    /// refuses the whole dump.
    pub fn import(&mut self, dump: &InventoryDump) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for customer in &dump.customers {
            let cid = id(Field::Customer, &customer.id)?;
            tx.prepare_cached(
                "INSERT INTO customers (id, name) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            )?
            .execute(params![cid, customer.name])?;
            for media in &customer.media {
                let mid = id(Field::Media, &media.id)?;
                tx.prepare_cached(
                    "INSERT INTO media (customer, id, description) VALUES (?1, ?2, ?3)
                     ON CONFLICT (customer, id) DO UPDATE SET description = excluded.description",
                )?
                .execute(params![cid, mid, media.description])?;
            }
            for repository in &customer.repositories {
                let rid = id(Field::Repository, &repository.id)?;
                let max = Field::RepositoryDesc.max_len();
                if repository.description.chars().count() > max {
                    return Err(StoreError::invalid(
                        Some(Field::RepositoryDesc),
                        format!(
                            "description of repository {cid}.{rid} is longer than {max} characters"
                        ),
                    ));
                }
                tx.prepare_cached(
                    "INSERT INTO repositories (customer, id, description) VALUES (?1, ?2, ?3)
                     ON CONFLICT (customer, id) DO UPDATE SET description = excluded.description",
                )?
                .execute(params![cid, rid, repository.description])?;
            }
        }
        let now = now_text();
        let n = self.columns.fields.len();
        let mut known_media: HashSet<(String, String)> = HashSet::new();
        for dumped in &dump.volumes {
            let customer = id(Field::Customer, &dumped.customer)?;
            let media = id(Field::Media, &dumped.media)?;
            let volume = volume_id(&dumped.volume)?;
            let scope = (customer.clone(), media.clone());
            if !known_media.contains(&scope) {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM media WHERE customer = ?1 AND id = ?2")?
                    .exists(params![customer, media])?;
                if !exists {
                    return Err(StoreError::Invalid {
                        volume: Some(volume),
                        field: Some(Field::Media),
                        message: format!(
                            "media {media} of customer {customer} is neither in the store nor in the dump"
                        ),
                    });
                }
                known_media.insert(scope);
            }
            let mut values = vec![None; n];
            for (field, raw) in &dumped.fields {
                let Some(index) = self.columns.index(*field) else {
                    return Err(StoreError::Invalid {
                        volume: Some(volume),
                        field: Some(*field),
                        message: "is not a field stored on volumes".to_string(),
                    });
                };
                if raw.is_empty() {
                    continue;
                }
                let value = canonicalise(*field, raw)
                    .map_err(|e| invalid_value(Some(&volume), *field, e))?;
                if *field == Field::Repository {
                    let exists = tx
                        .prepare_cached(
                            "SELECT 1 FROM repositories WHERE customer = ?1 AND id = ?2",
                        )?
                        .exists(params![customer, value])?;
                    if !exists {
                        return Err(StoreError::Invalid {
                            volume: Some(volume),
                            field: Some(Field::Repository),
                            message: format!(
                                "repository {value} of customer {customer} is neither in the store nor in the dump"
                            ),
                        });
                    }
                }
                values[index] = Some(value);
            }
            let ctx = BatchContext {
                conn: &tx,
                columns: &self.columns,
                actor: IMPORT_ACTOR,
                session: None,
                create_missing: false,
                customer,
                media,
                repositories: HashSet::new(),
                now: now.clone(),
            };
            match ctx.stored(&volume)? {
                None => {
                    ctx.insert_volume(&volume, &values)?;
                    ctx.audit_creation(&volume)?;
                    ctx.audit(&volume, &vec![None; n], &values)?;
                }
                Some(stored) if stored.values != values => {
                    ctx.update_volume(stored.row_id, stored.version + 1, &values)?;
                    ctx.audit(&volume, &stored.values, &values)?;
                }
                Some(_) => {}
            }
        }
        tx.commit()?;
        Ok(())
    }
}
