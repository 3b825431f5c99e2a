//! The minimums of scratch volumes, on SQLite.

use super::SqliteStore;
use crate::backend::ScratchSql;
use crate::error::StoreError;
use crate::scratch::ScratchMinimum;
use rusqlite::params;

impl ScratchSql for SqliteStore {
    fn set_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
        minimum: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO scratch_minimums (customer, media, repository, minimum)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (customer, media, repository) DO UPDATE SET minimum = excluded.minimum",
            )?
            .execute(params![customer, media, repository, minimum])?;
        Ok(())
    }

    fn remove_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM scratch_minimums WHERE customer = ?1 AND media = ?2 AND repository = ?3",
            )?
            .execute(params![customer, media, repository])?
            > 0)
    }

    fn scratch_minimums(&self, customer: Option<&str>) -> Result<Vec<ScratchMinimum>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT customer, media, repository, minimum FROM scratch_minimums
                 WHERE ?1 IS NULL OR customer = ?1 ORDER BY customer, media, repository",
            )?
            .query_map([customer], |r| {
                Ok(ScratchMinimum {
                    customer: r.get(0)?,
                    media: r.get(1)?,
                    repository: r.get(2)?,
                    minimum: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }
}
