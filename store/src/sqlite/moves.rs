//! Pending moves, on SQLite.

use super::SqliteStore;
use crate::backend::MoveSql;
use crate::error::StoreError;
use crate::moves::{pending_moves_query, PendingMove};
use rusqlite::params;

impl MoveSql for SqliteStore {
    fn pending_moves(
        &self,
        customer: &str,
        due: Option<&str>,
    ) -> Result<Vec<PendingMove>, StoreError> {
        let moves = self
            .conn
            .prepare_cached(&pending_moves_query("?1", "?2"))?
            .query_map(params![customer, due], |r| {
                Ok(PendingMove {
                    media: r.get(0)?,
                    volume: r.get(1)?,
                    version: r.get::<_, i64>(2)? as u64,
                    from: r.get(3)?,
                    to: r.get(4)?,
                    move_date: r.get(5)?,
                    slot: r.get(6)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(moves)
    }
}
