//! Recorded reconciliations, on SQLite.

use super::SqliteStore;
use crate::backend::ReconcileSql;
use crate::browse::sqlite_placeholder as p;
use crate::error::StoreError;
use crate::reconcile::{sql, Located, ReconcileCounts, ReconciliationSummary};
use rusqlite::{params, OptionalExtension, Row};

fn summary(r: &Row<'_>) -> rusqlite::Result<ReconciliationSummary> {
    let count = |i| r.get::<_, i64>(i).map(|n| n as u64);
    Ok(ReconciliationSummary {
        id: r.get(0)?,
        customer: r.get(1)?,
        repository: r.get(2)?,
        media: r.get(3)?,
        actor: r.get(4)?,
        at: r.get(5)?,
        source: r.get(6)?,
        counts: ReconcileCounts {
            expected: count(7)?,
            found: count(8)?,
            present: count(9)?,
            missing: count(10)?,
            surplus: count(11)?,
        },
    })
}

impl ReconcileSql for SqliteStore {
    fn volume_locations(
        &self,
        customer: &str,
        media: Option<&str>,
    ) -> Result<Vec<Located>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&sql::volume_locations(p))?
            .query_map(params![customer, media], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?)
    }

    fn insert_reconciliation(
        &self,
        s: &ReconciliationSummary,
        lists: &str,
    ) -> Result<i64, StoreError> {
        let c = &s.counts;
        let n = |v: u64| v as i64;
        Ok(self.conn.prepare_cached(&sql::insert(p))?.query_row(
            params![
                s.customer,
                s.repository,
                s.media,
                s.actor,
                s.at,
                s.source,
                n(c.expected),
                n(c.found),
                n(c.present),
                n(c.missing),
                n(c.surplus),
                lists
            ],
            |r| r.get(0),
        )?)
    }

    fn reconciliations(&self, customer: &str) -> Result<Vec<ReconciliationSummary>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&sql::list(p))?
            .query_map([customer], summary)?
            .collect::<Result<_, _>>()?)
    }

    fn reconciliation(
        &self,
        customer: &str,
        id: i64,
    ) -> Result<Option<(ReconciliationSummary, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&sql::one(p))?
            .query_row(params![customer, id], |r| Ok((summary(r)?, r.get(12)?)))
            .optional()?)
    }
}
