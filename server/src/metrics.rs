//! Prometheus metrics (`GET /metrics`, OpenMetrics text format; docs/operating.md lists them).
//!
//! Each server owns its metrics (no process-wide recorder): tests run several servers in one
//! process, and an embedding program may too. Counters that `state::Counters` already keeps
//! (logons, scope downloads) are read from there at scrape time instead of being counted twice;
//! store connection use is read from the pool at scrape time.
//!
//! Who may scrape: a client on loopback without a token, anyone else with an administrator's
//! bearer token. A request that carries a proxy's forwarding header is never taken for a local
//! one, so a TLS proxy on the same host does not make the metrics public.

use crate::auth;
use crate::error::ApiError;
use crate::pool::PoolUsage;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::net::IpAddr;
use std::time::Duration;
use tapesync_model::{ApplyResponse, SessionOutcome, VolumeOutcome};

/// The content type Prometheus asks for and the encoder writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels1 = [(&'static str, &'static str); 1];
type RequestLabels = [(&'static str, String); 3];

/// Request and store-wait durations, in seconds: 0.5 ms to about 33 s.
fn duration_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 17)
}

/// What the server counts itself. Clones share the same values.
#[derive(Clone)]
pub struct Metrics {
    sessions_started: Counter,
    syncs: Family<Labels1, Counter>,
    apply_batches: Family<Labels1, Counter>,
    volumes_changed: Family<Labels1, Counter>,
    conflicts: Counter,
    rejected: Counter,
    requests: Family<RequestLabels, Histogram>,
    store_wait: Family<Labels1, Histogram>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            sessions_started: Counter::default(),
            syncs: Family::default(),
            apply_batches: Family::default(),
            volumes_changed: Family::default(),
            conflicts: Counter::default(),
            rejected: Counter::default(),
            requests: Family::new_with_constructor(|| Histogram::new(duration_buckets())),
            store_wait: Family::new_with_constructor(|| Histogram::new(duration_buckets())),
        }
    }
}

fn outcome_label(outcome: SessionOutcome) -> &'static str {
    match outcome {
        SessionOutcome::Running => "running",
        SessionOutcome::Completed => "completed",
        SessionOutcome::DryRun => "dry_run",
        SessionOutcome::Failed => "failed",
        SessionOutcome::Abandoned => "abandoned",
    }
}

impl Metrics {
    pub fn session_started(&self) {
        self.sessions_started.inc();
    }

    pub fn session_finished(&self, outcome: SessionOutcome) {
        self.syncs
            .get_or_create(&[("outcome", outcome_label(outcome))])
            .inc();
    }

    /// One answered apply request. A replayed answer changed nothing now: only the batch is
    /// counted, its volumes were counted when it was first applied.
    pub fn batch_applied(&self, response: &ApplyResponse) {
        let result = if response.replayed {
            "replayed"
        } else {
            "applied"
        };
        self.apply_batches
            .get_or_create(&[("result", result)])
            .inc();
        if response.replayed {
            return;
        }
        for r in &response.results {
            match r.outcome {
                VolumeOutcome::Applied { .. } => self
                    .volumes_changed
                    .get_or_create(&[("change", "updated")])
                    .inc(),
                VolumeOutcome::Created { .. } => self
                    .volumes_changed
                    .get_or_create(&[("change", "created")])
                    .inc(),
                VolumeOutcome::Conflict { .. } => self.conflicts.inc(),
                VolumeOutcome::Rejected { .. } => self.rejected.inc(),
            };
        }
    }

    /// One answered HTTP request; `route` is the route's pattern (never the raw path, whose
    /// customer and volume names would make a series per volume).
    pub fn request_done(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&[
                ("method", method.to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .observe(elapsed.as_secs_f64());
    }

    /// Time a store call waited for its connection (`access` is "read" or "write").
    pub fn store_waited(&self, access: &'static str, waited: Duration) {
        self.store_wait
            .get_or_create(&[("access", access)])
            .observe(waited.as_secs_f64());
    }

    /// Everything, with the counters kept elsewhere and the pool's use at this moment.
    fn render(&self, state: &AppState) -> String {
        let mut registry = Registry::with_prefix("tapesync");
        registry.register(
            "sync_sessions_started",
            "Sync sessions begun",
            self.sessions_started.clone(),
        );
        registry.register(
            "syncs",
            "Sync sessions finished, by outcome (completed, failed, dry_run)",
            self.syncs.clone(),
        );
        registry.register(
            "apply_batches",
            "Apply batches answered (applied now, or replayed from an earlier answer)",
            self.apply_batches.clone(),
        );
        registry.register(
            "volumes_changed",
            "Volumes created or updated by apply batches",
            self.volumes_changed.clone(),
        );
        registry.register(
            "volume_conflicts",
            "Volume changes refused because the volume's version had moved on",
            self.conflicts.clone(),
        );
        registry.register(
            "volume_changes_rejected",
            "Volume changes rejected (for example an unknown repository the batch may not create)",
            self.rejected.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from receiving a request to its answer, by method, route and status",
            Unit::Seconds,
            self.requests.clone(),
        );
        registry.register_with_unit(
            "store_wait",
            "Time a store call waited for a connection, by access (read, write)",
            Unit::Seconds,
            self.store_wait.clone(),
        );
        let counters = state.counters().snapshot();
        for (name, help, value) in [
            ("logons", "Successful logons", counters.logons),
            (
                "logon_failures",
                "Logons refused for a wrong user name or password",
                counters.logons_failed,
            ),
            (
                "logons_throttled",
                "Logons refused because the user or address was locked out",
                counters.logons_throttled,
            ),
            (
                "logons_remembered",
                "Successful logons whose password was recognised without a second hash",
                counters.logons_remembered,
            ),
            (
                "scope_downloads",
                "Scope downloads (JSON snapshots and tables)",
                counters.scope_downloads,
            ),
        ] {
            let counter: Counter = Counter::default();
            counter.inc_by(value);
            registry.register(name, help, counter);
        }
        register_pool(&mut registry, state.0.pool.usage());
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

fn register_pool(registry: &mut Registry, usage: PoolUsage) {
    let gauge = |v: usize| {
        let g: Gauge = Gauge::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    registry.register(
        "store_read_connections",
        "Store connections that serve reads (on PostgreSQL: all, they read and write)",
        gauge(usage.readers),
    );
    registry.register(
        "store_read_connections_in_use",
        "Of those, the connections in use at the moment of the scrape",
        gauge(usage.readers_in_use),
    );
    registry.register(
        "store_writer_busy",
        "1 when the one writer connection was in use at the moment of the scrape (SQLite; always 0 on PostgreSQL)",
        gauge(usize::from(usage.writer_busy)),
    );
}

/// True when the request comes straight from this machine: a loopback peer and no proxy's
/// forwarding header (a proxy on the same host connects from loopback for remote clients).
fn is_local(peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    !forwarded && peer.is_some_and(|ip| ip.is_loopback())
}

/// `GET /metrics`.
pub async fn scrape(
    State(state): State<AppState>,
    auth::ClientAddr(peer): auth::ClientAddr,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !is_local(peer, &headers) {
        let token = auth::bearer_token(&headers).ok_or_else(|| {
            ApiError::unauthorised(
                "metrics need an administrator's bearer token when not asked from loopback",
            )
        })?;
        let user = auth::user_for_token(&state, token)
            .await?
            .ok_or_else(|| ApiError::unauthorised("token unknown or expired; log on again"))?;
        if !user.is_admin {
            return Err(ApiError::forbidden("metrics are for administrators"));
        }
    }
    let text = state.metrics().render(&state);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn only_a_direct_loopback_peer_is_local() {
        let none = HeaderMap::new();
        assert!(is_local(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), &none));
        assert!(is_local(Some(IpAddr::V6(Ipv6Addr::LOCALHOST)), &none));
        assert!(!is_local(
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
            &none
        ));
        // Without connection info the peer is unknown: not local.
        assert!(!is_local(None, &none));
        for name in ["forwarded", "x-forwarded-for", "x-real-ip"] {
            let mut proxied = HeaderMap::new();
            proxied.insert(name, HeaderValue::from_static("203.0.113.9"));
            assert!(
                !is_local(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), &proxied),
                "{name}"
            );
        }
    }
}
