//! The minimums of scratch volumes, on PostgreSQL.

use super::inventory::unsigned;
use super::PgStore;
use crate::backend::ScratchSql;
use crate::error::StoreError;
use crate::scratch::ScratchMinimum;

impl ScratchSql for PgStore {
    fn set_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
        minimum: i64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.client.execute(
                "INSERT INTO scratch_minimums (customer, media, repository, minimum)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (customer, media, repository) DO UPDATE SET minimum = excluded.minimum",
                &[&customer, &media, &repository, &minimum],
            )?;
            Ok(())
        })
    }

    fn remove_scratch_minimum(
        &self,
        customer: &str,
        media: &str,
        repository: &str,
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.client.execute(
                "DELETE FROM scratch_minimums WHERE customer = $1 AND media = $2 AND repository = $3",
                &[&customer, &media, &repository],
            )? > 0)
        })
    }

    fn scratch_minimums(&self, customer: Option<&str>) -> Result<Vec<ScratchMinimum>, StoreError> {
        self.with(|c| {
            c.client
                .query(
                    "SELECT customer, media, repository, minimum FROM scratch_minimums
                     WHERE $1::text IS NULL OR customer = $1 ORDER BY customer, media, repository",
                    &[&customer],
                )?
                .iter()
                .map(|r| {
                    Ok(ScratchMinimum {
                        customer: r.try_get(0)?,
                        media: r.try_get(1)?,
                        repository: r.try_get(2)?,
                        minimum: unsigned(r.try_get(3)?)?,
                    })
                })
                .collect()
        })
    }
}
