//! Pending moves, on PostgreSQL.

use super::inventory::unsigned;
use super::PgStore;
use crate::backend::MoveSql;
use crate::error::StoreError;
use crate::moves::{pending_moves_query, PendingMove};

impl MoveSql for PgStore {
    fn pending_moves(
        &self,
        customer: &str,
        due: Option<&str>,
    ) -> Result<Vec<PendingMove>, StoreError> {
        self.with(|c| {
            c.client
                .query(&pending_moves_query("$1", "$2::text"), &[&customer, &due])?
                .iter()
                .map(|r| {
                    Ok(PendingMove {
                        media: r.try_get(0)?,
                        volume: r.try_get(1)?,
                        version: unsigned(r.try_get(2)?)?,
                        from: r.try_get(3)?,
                        to: r.try_get(4)?,
                        move_date: r.try_get(5)?,
                        slot: r.try_get(6)?,
                    })
                })
                .collect()
        })
    }
}
