//! Whole-inventory import and export as [`InventoryDump`] (plain, sorted data).

use crate::batch::{bump_customer, import_volumes};
use crate::clock::now_text;
use crate::error::StoreError;
use crate::validate::check_dump;
use crate::Store;
use tapesync_model::InventoryDump;

impl Store {
    /// The whole inventory: customers with media and repositories, then every volume, all
    /// sorted by id, with versions and no timestamps. Read in one transaction.
    pub fn export(&self) -> Result<InventoryDump, StoreError> {
        self.backend.export()
    }

    /// Loads a dump in one transaction, merging it into what the store holds: customers,
    /// media and repositories are added or have their name/description replaced; a volume the
    /// store does not hold is added at the dump's version (1 when the dump has none), so an
    /// export loaded into an empty store exports the same again; a stored volume whose fields
    /// differ gets the dump's fields and its version goes up by one (audited as `import`).
    /// Any invalid entry refuses the whole dump.
    pub fn import(&mut self, dump: &InventoryDump) -> Result<(), StoreError> {
        let checked = check_dump(&self.columns, dump)?;
        let now = now_text();
        let columns = &self.columns;
        self.backend.import(&checked.customers, &mut |tx| {
            import_volumes(tx, columns, &checked.volumes, &now)?;
            // The dump's customers, media and repositories were written (names and
            // descriptions replaced): every scope of those customers moves. Last, after the
            // scopes' locks, in the order a batch takes them (PostgreSQL).
            for customer in &checked.customers {
                bump_customer(tx, &customer.id)?;
            }
            Ok(())
        })
    }
}
