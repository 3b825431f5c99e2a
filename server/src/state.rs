//! What every handler shares: the store connections, the configuration, the limit on
//! password checks running at once, and the request counters.

use crate::admission::{Admission, StoreCall};
use crate::error::ApiError;
use crate::forwarded::TrustedProxies;
use crate::metrics::Metrics;
use crate::pool::StorePool;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tapesync_store::{Store, StoreError, ThrottlePolicy, VerifiedPasswords};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Lifetime of a logon token.
    pub token_ttl_secs: u64,
    pub throttle: ThrottlePolicy,
    /// Mark the web page's cookie `Secure` (set when a TLS proxy is in front).
    pub secure_cookie: bool,
    /// Largest request body accepted (after decompression).
    pub max_body_bytes: usize,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client (`--trusted-proxy`).
    pub trusted_proxies: TrustedProxies,
    /// Password checks (argon2, deliberately slow) that may run at once; more wait their
    /// turn without holding a thread or a store connection.
    pub password_checks: usize,
    /// Sync sessions one user may begin per minute on this node (each costs store space).
    pub session_begins_per_minute: u32,
    /// How long a verified password is recognised again without argon2 (in this process's
    /// memory only; 0: never). See `tapesync_store::VerifiedPasswords`.
    pub remember_logons_secs: u64,
}

/// One password check per core: argon2 keeps a core busy, and more at once would only
/// slow every other request down.
fn default_password_checks() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            token_ttl_secs: 12 * 60 * 60,
            throttle: ThrottlePolicy::default(),
            secure_cookie: false,
            max_body_bytes: 64 * 1024 * 1024,
            trusted_proxies: TrustedProxies::default(),
            password_checks: default_password_checks(),
            session_begins_per_minute: 60,
            remember_logons_secs: 12 * 60 * 60,
        }
    }
}

/// Requests the server has answered since it started, so that a client's own round-trip
/// count can be checked against what actually arrived (`GET /api/v1/server-statistics`).
#[derive(Debug, Default)]
pub struct Counters {
    pub scope_downloads: AtomicU64,
    pub apply_requests: AtomicU64,
    pub applies_replayed: AtomicU64,
    pub logons: AtomicU64,
    pub logons_failed: AtomicU64,
    pub logons_throttled: AtomicU64,
    /// Passwords checked (argon2 runs), right or wrong.
    pub password_checks: AtomicU64,
    /// Successful logons whose password was recognised without argon2 (remembered).
    pub logons_remembered: AtomicU64,
    /// Scope-version requests (one per sync that keeps a scope cache).
    pub version_requests: AtomicU64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersSnapshot {
    pub scope_downloads: u64,
    pub apply_requests: u64,
    pub applies_replayed: u64,
    pub logons: u64,
    pub logons_failed: u64,
    pub logons_throttled: u64,
    pub password_checks: u64,
    pub logons_remembered: u64,
    pub version_requests: u64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            scope_downloads: get(&self.scope_downloads),
            apply_requests: get(&self.apply_requests),
            applies_replayed: get(&self.applies_replayed),
            logons: get(&self.logons),
            logons_failed: get(&self.logons_failed),
            logons_throttled: get(&self.logons_throttled),
            password_checks: get(&self.password_checks),
            logons_remembered: get(&self.logons_remembered),
            version_requests: get(&self.version_requests),
        }
    }
}

pub struct Shared {
    pub pool: StorePool,
    pub config: ServerConfig,
    pub counters: Counters,
    /// Permits for password checks (see [`ServerConfig::password_checks`]).
    pub hashing: Semaphore,
    /// Passwords verified recently (see [`ServerConfig::remember_logons_secs`]).
    pub verified: VerifiedPasswords,
    pub metrics: Metrics,
    /// Per user: the start of the current one-minute window and the sessions begun in it.
    pub session_begins: Mutex<HashMap<String, (Instant, u32)>>,
    /// Store calls and batch bodies held at once (`crate::admission`).
    pub admission: Admission,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl AppState {
    pub fn new(pool: StorePool, config: ServerConfig) -> AppState {
        AppState(Arc::new(Shared {
            admission: Admission::new(&pool),
            pool,
            hashing: Semaphore::new(config.password_checks.max(1)),
            verified: VerifiedPasswords::new(Duration::from_secs(config.remember_logons_secs)),
            config,
            counters: Counters::default(),
            metrics: Metrics::default(),
            session_begins: Mutex::default(),
        }))
    }

    /// Counts a session begin of `user`: `Err(seconds to wait)` once the user has begun
    /// [`ServerConfig::session_begins_per_minute`] in the current minute.
    pub fn admit_session_begin(&self, user: &str) -> Result<(), u64> {
        const WINDOW: Duration = Duration::from_secs(60);
        let now = Instant::now();
        let mut begins = self
            .0
            .session_begins
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if begins.len() > 4096 {
            // Users are few; this only bounds the map if names churn.
            begins.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        }
        let entry = begins.entry(user.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.0.config.session_begins_per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Runs a read on a reader connection, off the async threads.
    pub async fn read<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    {
        let shared = self.0.clone();
        let asked = std::time::Instant::now();
        let permit = shared.admission.store_call(StoreCall::Read).await;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            shared.pool.read(|store| {
                shared.metrics.store_waited("read", asked.elapsed());
                f(store)
            })
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
    }

    /// Runs a write on the one writer connection, off the async threads.
    pub async fn write<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    {
        let shared = self.0.clone();
        let asked = std::time::Instant::now();
        let permit = shared.admission.store_call(StoreCall::Write).await;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            shared.pool.write(|store| {
                shared.metrics.store_waited("write", asked.elapsed());
                f(store)
            })
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }

    /// The permits of password checks: a check holds one while it hashes.
    pub fn password_checks(&self) -> &Semaphore {
        &self.0.hashing
    }

    /// The passwords this server verified recently.
    pub fn verified_passwords(&self) -> &VerifiedPasswords {
        &self.0.verified
    }

    pub fn admission(&self) -> &Admission {
        &self.0.admission
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
}
