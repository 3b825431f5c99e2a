//! Recorded reconciliations, on PostgreSQL.

use super::inventory::unsigned;
use super::PgStore;
use crate::backend::ReconcileSql;
use crate::browse::postgres_placeholder as p;
use crate::error::StoreError;
use crate::reconcile::{sql, Located, ReconcileCounts, ReconciliationSummary};
use postgres::Row;

fn summary(r: &Row) -> Result<ReconciliationSummary, StoreError> {
    let count = |i| -> Result<u64, StoreError> { unsigned(r.try_get(i)?) };
    Ok(ReconciliationSummary {
        id: r.try_get(0)?,
        customer: r.try_get(1)?,
        repository: r.try_get(2)?,
        media: r.try_get(3)?,
        actor: r.try_get(4)?,
        at: r.try_get(5)?,
        source: r.try_get(6)?,
        counts: ReconcileCounts {
            expected: count(7)?,
            found: count(8)?,
            present: count(9)?,
            missing: count(10)?,
            surplus: count(11)?,
        },
    })
}

/// A text parameter that may be NULL needs its type spelled out.
fn text(i: usize) -> String {
    format!("${i}::text")
}

impl ReconcileSql for PgStore {
    fn volume_locations(
        &self,
        customer: &str,
        media: Option<&str>,
    ) -> Result<Vec<Located>, StoreError> {
        self.with(|c| {
            c.client
                .query(&sql::volume_locations(text), &[&customer, &media])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        })
    }

    fn insert_reconciliation(
        &self,
        s: &ReconciliationSummary,
        lists: &str,
    ) -> Result<i64, StoreError> {
        let c = &s.counts;
        let n = |v: u64| v as i64;
        let counts = [
            n(c.expected),
            n(c.found),
            n(c.present),
            n(c.missing),
            n(c.surplus),
        ];
        self.with(|conn| {
            Ok(conn
                .client
                .query_one(
                    &sql::insert(p),
                    &[
                        &s.customer,
                        &s.repository,
                        &s.media,
                        &s.actor,
                        &s.at,
                        &s.source,
                        &counts[0],
                        &counts[1],
                        &counts[2],
                        &counts[3],
                        &counts[4],
                        &lists,
                    ],
                )?
                .try_get(0)?)
        })
    }

    fn reconciliations(&self, customer: &str) -> Result<Vec<ReconciliationSummary>, StoreError> {
        self.with(|c| {
            c.client
                .query(&sql::list(p), &[&customer])?
                .iter()
                .map(summary)
                .collect()
        })
    }

    fn reconciliation(
        &self,
        customer: &str,
        id: i64,
    ) -> Result<Option<(ReconciliationSummary, String)>, StoreError> {
        self.with(|c| {
            c.client
                .query_opt(&sql::one(p), &[&customer, &id])?
                .map(|r| Ok((summary(&r)?, r.try_get(12)?)))
                .transpose()
        })
    }
}
