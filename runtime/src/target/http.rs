//! `HttpTarget`: the inventory server over HTTP (`tapesync run --server URL --user NAME`).
//!
//! Speaks the JSON API of `tapesync serve` (docs/server-api.md) with a bearer token from a
//! logon. Retries:
//! - a request that never reached the server (connection refused, DNS, connect timeout) is
//!   retried here with back-off — nothing can have happened;
//! - `503 Service Unavailable` is the server saying "nothing was written, try again" (its store
//!   was busy) — retried here as well;
//! - a request that was sent but got no answer (connection reset, timeout while waiting) is
//!   ambiguous for an apply: it may or may not have been committed. It is reported as
//!   [`TargetError::Unavailable`] and the runtime repeats the batch with the SAME idempotency
//!   key; the server then answers the recorded result (`replayed: true`) if the first attempt
//!   was applied, so a batch is never applied twice. Reads are simply retried here.
//!
//! Every request sent is counted ([`RoundTrips`]), so the statistics can prove that a session
//! costs one download per scope and one apply per batch, never one request per record. A
//! [`Target::scope_reader`] handle counts into the same [`RoundTrips`].
//!
//! The HTTP clients are the caller's: [`HttpSettings::clients`] builds them (timeouts, user
//! agent, proxies and TLS roots are the command line's decision, `cli/src/client.rs`); this
//! module only speaks the API through them.
//!
//! Compression: the server gzips an answer when the request asks for it. Scopes are downloaded
//! uncompressed from a loopback server and gzipped from any other: on loopback the transfer
//! costs next to nothing while compressing and decompressing a large scope costs both ends
//! CPU on the same machine (docs/server-api.md, "Compression", has the figures).

use super::{ScopeReader, Target, TargetError};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{header, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tapesync_model::{
    ApiErrorBody, ApplyBatch, ApplyResponse, BatchGroupResponse, Field, LogonRequest,
    LogonResponse, ScopeKey, ScopeSnapshot, ScopeTable, ScopeVersions, ScopeVersionsRequest,
    ScopedBatch, SessionCreated, SessionFinish, SessionOutcome, SessionStart, SyncStatistics,
};
use tapesync_store::ScratchLevel;

/// Scopes the server answers the versions of in one request (`MAX_SCOPES_PER_VERSIONS` of
/// `server/src/limits.rs`, which this crate cannot depend on).
pub const MAX_SCOPES_PER_VERSIONS: usize = 10_000;

/// Requests sent to the server, retries included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundTrips {
    pub logons: u64,
    pub scope_downloads: u64,
    /// Apply requests: one per batch sent alone, one per group of batches.
    pub applies: u64,
    pub session_calls: u64,
    /// Scope-version requests (one per run that keeps a scope cache).
    pub version_calls: u64,
    /// Reads of a customer's scratch levels (one per synced customer, after the sync).
    pub scratch_level_reads: u64,
    /// Requests repeated after a connection failure or a 503 (also counted above).
    pub retries: u64,
}

/// How often and how patiently a request that certainly did not take effect is repeated.
#[derive(Debug, Clone)]
pub struct HttpRetry {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for HttpRetry {
    fn default() -> HttpRetry {
        HttpRetry {
            attempts: 4,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// Builds an HTTP client: called once for the target and once for each scope reader, so that
/// each has a connection (and I/O thread) of its own.
pub type ClientFactory = Arc<dyn Fn() -> reqwest::Result<Client> + Send + Sync>;

/// How an [`HttpTarget`] talks to the server.
#[derive(Clone)]
pub struct HttpSettings {
    pub retry: HttpRetry,
    pub clients: ClientFactory,
}

impl Default for HttpSettings {
    /// reqwest's default clients (no user agent; a 30-second timeout per request) and the
    /// default retries. The command line builds its own clients.
    fn default() -> HttpSettings {
        HttpSettings {
            retry: HttpRetry::default(),
            clients: Arc::new(|| Client::builder().build()),
        }
    }
}

/// Request bodies larger than this are sent gzip-compressed (the server decompresses).
const COMPRESS_ABOVE: usize = 16 * 1024;

/// The body of `POST /api/v1/batches`: the JSON of a [`tapesync_model::BatchGroup`], with the batches
/// borrowed (building a `BatchGroup` would copy every change of the group once more).
#[derive(Serialize)]
struct GroupBody<'a> {
    batches: &'a [ScopedBatch],
}

pub struct HttpTarget {
    link: Link,
    /// False once the server answered `POST /api/v1/batches` with 404 or 405 (a server from
    /// before groups): the rest of the run sends batches one by one without asking again.
    groups: bool,
}

/// Downloads scopes on a thread of its own, over its own HTTP client and connection (see
/// [`HttpTarget::scope_reader`]).
pub struct HttpReader {
    link: Link,
}

/// One logged-on conversation with the server: what every request needs. The target and its
/// readers each have one; they share only the request counters.
struct Link {
    client: Client,
    base: Url,
    user: String,
    /// Kept for one re-logon when the token expires during a long session.
    password: String,
    token: String,
    retry: HttpRetry,
    /// Where further clients come from (see [`Link::fork`]).
    clients: ClientFactory,
    trips: Arc<Mutex<RoundTrips>>,
    /// Whether downloads ask for gzip (not from a loopback server; see the module comment).
    gzip_downloads: bool,
}

/// What one attempt of a request came to.
enum Attempt {
    Answer(Response),
    /// The request did not reach the server.
    NotSent(String),
    /// The request was (or may have been) sent, but no answer came back.
    NoAnswer(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Logon,
    Download,
    Apply,
    Session,
    Versions,
    Levels,
}

impl HttpTarget {
    /// Logs on to the server at `base_url` (e.g. `http://127.0.0.1:8740`) with the default
    /// [`HttpSettings`].
    pub fn connect(base_url: &str, user: &str, password: &str) -> Result<HttpTarget, TargetError> {
        HttpTarget::connect_with(base_url, user, password, HttpSettings::default())
    }

    /// Logs on with the caller's clients and retries.
    pub fn connect_with(
        base_url: &str,
        user: &str,
        password: &str,
        settings: HttpSettings,
    ) -> Result<HttpTarget, TargetError> {
        let mut base = server_url(base_url).map_err(TargetError::Refused)?;
        // Paths are appended segment by segment; a trailing slash would add an empty one.
        let trimmed = base.path().trim_end_matches('/').to_string();
        base.set_path(&trimmed);
        let gzip_downloads = !is_loopback(&base);
        let mut link = Link {
            client: new_client(&settings.clients)?,
            base,
            user: user.to_string(),
            password: password.to_string(),
            token: String::new(),
            retry: settings.retry,
            clients: settings.clients,
            trips: Arc::default(),
            gzip_downloads,
        };
        link.logon()?;
        Ok(HttpTarget { link, groups: true })
    }

    /// Requests sent so far, by this target and by its scope readers.
    pub fn round_trips(&self) -> RoundTrips {
        *lock(&self.link.trips)
    }

    /// The bearer token of this logon (for tools that call further endpoints).
    pub fn token(&self) -> &str {
        &self.link.token
    }

    /// Whether scope downloads ask the server for gzip. The default is chosen from the server
    /// address (no for loopback, yes otherwise); this overrides it (benchmarks, odd networks).
    pub fn set_gzip_downloads(&mut self, on: bool) {
        self.link.gzip_downloads = on;
    }
}

/// The server's address as a URL, or a message that says how to write it. An address without
/// a scheme (`127.0.0.1:8740`, `localhost:8740`) gets the `http://` form suggested: the URL
/// parser would call the first a "relative URL without a base" and take `localhost` for a
/// scheme in the second.
pub fn server_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    if !text.contains("://") {
        return Err(format!(
            "server URL `{text}` has no scheme: write `http://{text}` (or `https://{text}`)"
        ));
    }
    let url = Url::parse(text).map_err(|e| format!("server URL `{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!(
            "server URL `{text}` must start with http:// or https://"
        ));
    }
    Ok(url)
}

fn new_client(clients: &ClientFactory) -> Result<Client, TargetError> {
    clients().map_err(|e| TargetError::Internal(format!("HTTP client: {e}")))
}

/// Whether the server is on this machine (a loopback address or `localhost`).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come in brackets (`[::1]`).
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The counters stay usable even if a thread panicked while holding them.
fn lock(trips: &Mutex<RoundTrips>) -> std::sync::MutexGuard<'_, RoundTrips> {
    trips
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Link {
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// `/api/v1/customers/{customer}/media/{media}/{last}`.
    fn scope_url(&self, scope: &ScopeKey, last: &str) -> Url {
        self.url(&[
            "api",
            "v1",
            "customers",
            &scope.customer,
            "media",
            &scope.media,
            last,
        ])
    }

    fn logon(&mut self) -> Result<(), TargetError> {
        let url = self.url(&["api", "v1", "logon"]);
        let body = LogonRequest {
            user: self.user.clone(),
            password: self.password.clone(),
        };
        let response = self.send(Kind::Logon, true, |c| c.post(url.clone()).json(&body))?;
        match response.status() {
            StatusCode::OK => {
                let answer: LogonResponse = read_json(response)?;
                self.token = answer.token;
                Ok(())
            }
            StatusCode::UNAUTHORIZED => Err(TargetError::Unauthorised(format!(
                "logon as `{}` failed: wrong user name or password",
                self.user
            ))),
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("some")
                    .to_string();
                Err(TargetError::Unauthorised(format!(
                    "logon as `{}` refused after repeated failures; try again in {wait} seconds",
                    self.user
                )))
            }
            _ => Err(error_of(response)),
        }
    }

    /// Sends a request, repeating it while it certainly had no effect (not sent, or 503).
    /// With `retry_unanswered` (reads, logon) a request without an answer is repeated too.
    fn send(
        &mut self,
        kind: Kind,
        retry_unanswered: bool,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, TargetError> {
        let mut delay = self.retry.first_delay;
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            {
                let mut trips = lock(&self.trips);
                match kind {
                    Kind::Logon => trips.logons += 1,
                    Kind::Download => trips.scope_downloads += 1,
                    Kind::Apply => trips.applies += 1,
                    Kind::Session => trips.session_calls += 1,
                    Kind::Versions => trips.version_calls += 1,
                    Kind::Levels => trips.scratch_level_reads += 1,
                }
                if attempt > 1 {
                    trips.retries += 1;
                }
            }
            let mut request = build(&self.client);
            if kind != Kind::Logon {
                request = request.bearer_auth(&self.token);
            }
            let outcome = match request.send() {
                Ok(r) => Attempt::Answer(r),
                // A request that cannot even be built (e.g. an unsupported URL) never will be.
                Err(e) if e.is_builder() => {
                    return Err(TargetError::Refused(format!(
                        "request to {}: {e}",
                        self.base
                    )))
                }
                Err(e) if e.is_connect() => Attempt::NotSent(e.to_string()),
                Err(e) => Attempt::NoAnswer(e.to_string()),
            };
            let retryable = match &outcome {
                // 503: the store was busy; 429: the server refused to take the request now
                // (a rate limit, or a logon throttle: logons are counted before they are
                // checked, so several runs logging on as one user at once can find the user
                // locked for a moment, docs/server.md "Logon throttling"). Neither did anything.
                Attempt::Answer(r) => matches!(
                    r.status(),
                    StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
                ),
                Attempt::NotSent(_) => true,
                Attempt::NoAnswer(_) => retry_unanswered,
            };
            if retryable && attempt < attempts {
                let asked = match &outcome {
                    Attempt::Answer(r) => retry_after(r.headers(), std::time::SystemTime::now()),
                    _ => None,
                };
                std::thread::sleep(wait_before_retry(delay, asked));
                delay = delay.saturating_mul(2).min(self.retry.max_delay);
                attempt += 1;
                continue;
            }
            return match outcome {
                Attempt::Answer(r) => Ok(r),
                Attempt::NotSent(e) => Err(TargetError::Unavailable(format!(
                    "cannot reach the inventory server {}: {e}",
                    self.base
                ))),
                Attempt::NoAnswer(e) => Err(TargetError::Unavailable(format!(
                    "no answer from the inventory server {} (the request may have taken \
                     effect; a batch is repeated with the same idempotency key): {e}",
                    self.base
                ))),
            };
        }
    }

    /// Sends an authenticated request; on 401 (token expired) logs on once more and repeats.
    fn call(
        &mut self,
        kind: Kind,
        retry_unanswered: bool,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, TargetError> {
        let response = self.send(kind, retry_unanswered, &build)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.logon()?;
        self.send(kind, retry_unanswered, &build)
    }

    /// A GET of a scope download, asking for gzip or explicitly not (reqwest would ask).
    fn download(&mut self, url: Url) -> Result<Response, TargetError> {
        let encoding = if self.gzip_downloads {
            "gzip"
        } else {
            "identity"
        };
        self.call(Kind::Download, true, |c| {
            c.get(url.clone()).header(header::ACCEPT_ENCODING, encoding)
        })
    }

    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        let mut url = self.scope_url(scope, "table");
        let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
        url.query_pairs_mut()
            .append_pair("columns", &names.join(","));
        let response = self.download(url)?;
        if !response.status().is_success() {
            return Err(error_of(response));
        }
        let bytes = response
            .bytes()
            .map_err(|e| TargetError::Unavailable(format!("reading the server's answer: {e}")))?;
        let table = ScopeTable::decode(&bytes).map_err(|e| {
            TargetError::Internal(format!(
                "the server's answer is not what tapesync expects: {e}"
            ))
        })?;
        // The runtime reads cells by column position: the server must answer what was asked.
        if table.columns() != columns {
            return Err(TargetError::Internal(
                "the server answered a scope table of other columns than requested".into(),
            ));
        }
        Ok(table)
    }

    /// Posts a batch or a group of batches. The body is built once, so every attempt sends
    /// the same bytes, hence the same idempotency keys; an unanswered attempt is not repeated
    /// here (it may have been applied: the runtime resends it, and it replays).
    fn post_batches<T: Serialize>(&mut self, url: Url, body: &T) -> Result<Response, TargetError> {
        let probe = json_body(self.client.post(url.clone()), body)?
            .build()
            .map_err(|e| TargetError::Internal(e.to_string()))?;
        let encoding = probe.headers().get(header::CONTENT_ENCODING).cloned();
        let bytes = probe
            .body()
            .and_then(|b| b.as_bytes())
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        self.call(Kind::Apply, false, |c| {
            let mut r = c
                .post(url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            if let Some(e) = &encoding {
                r = r.header(header::CONTENT_ENCODING, e.clone());
            }
            r
        })
    }

    /// A second conversation: own client (own connection and I/O thread) and own logon token
    /// copy, the same counters.
    fn fork(&self) -> Result<Link, TargetError> {
        Ok(Link {
            client: new_client(&self.clients)?,
            base: self.base.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            retry: self.retry.clone(),
            clients: Arc::clone(&self.clients),
            trips: Arc::clone(&self.trips),
            gzip_downloads: self.gzip_downloads,
        })
    }
}

/// A JSON body, gzip-compressed when it is large.
fn json_body<T: Serialize>(
    builder: RequestBuilder,
    value: &T,
) -> Result<RequestBuilder, TargetError> {
    let bytes = serde_json::to_vec(value).map_err(|e| TargetError::Internal(e.to_string()))?;
    let builder = builder.header(header::CONTENT_TYPE, "application/json");
    if bytes.len() <= COMPRESS_ABOVE {
        return Ok(builder.body(bytes));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes)
        .and_then(|_| gz.finish())
        .map(|compressed| {
            builder
                .header(header::CONTENT_ENCODING, "gzip")
                .body(compressed)
        })
        .map_err(|e| TargetError::Internal(format!("compressing a request: {e}")))
}

fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, TargetError> {
    let bytes = response
        .bytes()
        .map_err(|e| TargetError::Unavailable(format!("reading the server's answer: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        TargetError::Internal(format!(
            "the server's answer is not what tapesync expects: {e}"
        ))
    })
}

/// The longest wait an answer's `Retry-After` is obeyed for: a run must end even when a
/// server (or a proxy in front of it) asks for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait an answer's `Retry-After` asks for, in either of its forms (RFC 9110 10.2.3):
/// seconds, or an HTTP date (a date in the past: no wait). At most [`MAX_RETRY_AFTER`].
fn retry_after(headers: &header::HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// How long to wait before repeating a request: what the server's `Retry-After` asks for when
/// it asks for more than the back-off step, else the step with jitter
/// ([`super::retry::jittered`]). The server's wish is obeyed exactly: it may have spread its
/// clients already, and waiting less would only be refused again.
fn wait_before_retry(delay: Duration, asked: Option<Duration>) -> Duration {
    let step = super::retry::jittered(delay);
    match asked {
        Some(asked) if asked >= step => asked,
        _ => step,
    }
}

/// Turns a non-success answer into the matching error, with the server's message.
fn error_of(response: Response) -> TargetError {
    let status = response.status();
    let body: Option<ApiErrorBody> = response
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let message = match &body {
        Some(ApiErrorBody {
            error,
            field: Some(f),
        }) => format!("{error} (field {f})"),
        Some(ApiErrorBody { error, .. }) => error.clone(),
        None => status.to_string(),
    };
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => TargetError::Unauthorised(message),
        // The server answers 404 both for what does not exist and for what the user may not
        // see; for a scope it always exists for an authorised user (as "does not exist" data).
        StatusCode::NOT_FOUND => TargetError::Unauthorised(format!(
            "{message}: no such customer, or the user has no rights on it"
        )),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => {
            TargetError::Unavailable(message)
        }
        s if s.is_client_error() => TargetError::Refused(message),
        _ => TargetError::Internal(format!("server error {status}: {message}")),
    }
}

fn expect_json<T: DeserializeOwned>(response: Response) -> Result<T, TargetError> {
    if response.status().is_success() {
        read_json(response)
    } else {
        Err(error_of(response))
    }
}

impl ScopeReader for HttpReader {
    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        self.link.download_table(scope, columns)
    }
}

impl Target for HttpTarget {
    fn begin_session(&mut self, start: &SessionStart) -> Result<i64, TargetError> {
        let url = self.link.url(&["api", "v1", "sync-sessions"]);
        let body = serde_json::to_vec(start).map_err(|e| TargetError::Internal(e.to_string()))?;
        // Not repeated when unanswered: a second session record would be harmless but wrong.
        let response = self.link.call(Kind::Session, false, |c| {
            c.post(url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })?;
        let created: SessionCreated = expect_json(response)?;
        Ok(created.id)
    }

    fn download_scope(&mut self, scope: &ScopeKey) -> Result<ScopeSnapshot, TargetError> {
        let url = self.link.scope_url(scope, "volumes");
        let response = self.link.download(url)?;
        expect_json(response)
    }

    fn download_table(
        &mut self,
        scope: &ScopeKey,
        columns: &[Field],
    ) -> Result<ScopeTable, TargetError> {
        self.link.download_table(scope, columns)
    }

    /// One request for up to [`MAX_SCOPES_PER_VERSIONS`] scopes (the server's limit), so
    /// one request for any real run; more scopes take one request per that many.
    fn scope_versions(&mut self, scopes: &[ScopeKey]) -> Result<ScopeVersions, TargetError> {
        let url = self.link.url(&["api", "v1", "scope-versions"]);
        let mut all = ScopeVersions::default();
        for (i, chunk) in scopes.chunks(MAX_SCOPES_PER_VERSIONS).enumerate() {
            let request = ScopeVersionsRequest {
                scopes: chunk.to_vec(),
            };
            let body =
                serde_json::to_vec(&request).map_err(|e| TargetError::Internal(e.to_string()))?;
            // A read: safe to repeat when unanswered.
            let response = self.link.call(Kind::Versions, true, |c| {
                c.post(url.clone())
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })?;
            let part: ScopeVersions = expect_json(response)?;
            if i > 0 && part.store != all.store {
                return Err(TargetError::Unavailable(
                    "the inventory's store identity changed during the run".into(),
                ));
            }
            all.store = part.store;
            all.scopes.extend(part.scopes);
        }
        Ok(all)
    }

    /// A reader with its own HTTP client, so a download on its thread never queues behind an
    /// apply on this one. `None` only if a client cannot be built (then nothing could be sent).
    fn scope_reader(&self) -> Option<Box<dyn ScopeReader>> {
        let link = self.link.fork().ok()?;
        Some(Box::new(HttpReader { link }))
    }

    fn apply(
        &mut self,
        scope: &ScopeKey,
        batch: &ApplyBatch,
    ) -> Result<ApplyResponse, TargetError> {
        let url = self.link.scope_url(scope, "volumes:apply");
        let response = self.link.post_batches(url, batch)?;
        expect_json(response)
    }

    /// `POST /api/v1/batches`: one request and one transaction of the server for the group.
    /// A server without the route (404 or 405: from before groups) applied nothing; it is
    /// remembered, and this and every later group answer `Ok(None)` so that the caller sends
    /// the batches one by one. (The route also answers 404 for a group naming a customer the
    /// user may not write; the batches one by one then meet that 404 themselves, with the
    /// scope named, and the run stops there anyway.) Other answers are mapped as for
    /// [`Target::apply`]: a lost answer or a busy server is `Unavailable`, and the caller
    /// resends the same group, whose recorded batches then replay.
    fn apply_group(
        &mut self,
        batches: &[ScopedBatch],
    ) -> Result<Option<Vec<ApplyResponse>>, TargetError> {
        if !self.groups {
            return Ok(None);
        }
        let url = self.link.url(&["api", "v1", "batches"]);
        let group = GroupBody { batches };
        let response = self.link.post_batches(url, &group)?;
        if matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            self.groups = false;
            return Ok(None);
        }
        let answer: BatchGroupResponse = expect_json(response)?;
        if answer.responses.len() != batches.len() {
            return Err(TargetError::Internal(format!(
                "the server answered {} results for a group of {} batches",
                answer.responses.len(),
                batches.len()
            )));
        }
        Ok(Some(answer.responses))
    }

    fn scratch_levels(&mut self, customer: &str) -> Result<Vec<ScratchLevel>, TargetError> {
        let url = self
            .link
            .url(&["api", "v1", "customers", customer, "scratch-levels"]);
        let response = self.link.call(Kind::Levels, true, |c| c.get(url.clone()))?;
        expect_json(response)
    }

    fn finish_session(
        &mut self,
        session: i64,
        outcome: SessionOutcome,
        stats: &SyncStatistics,
    ) -> Result<(), TargetError> {
        let id = session.to_string();
        let url = self
            .link
            .url(&["api", "v1", "sync-sessions", &id, "finish"]);
        let body = SessionFinish {
            outcome,
            statistics: stats.clone(),
        };
        let body = serde_json::to_vec(&body).map_err(|e| TargetError::Internal(e.to_string()))?;
        // Finishing twice writes the same record twice: safe to repeat.
        let response = self.link.call(Kind::Session, true, |c| {
            c.post(url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_of(response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_body_is_the_json_of_a_batch_group() {
        use tapesync_model::BatchGroup;
        let batch = ScopedBatch {
            customer: "C1".into(),
            media: "LTO".into(),
            batch: ApplyBatch {
                idempotency_key: "k-1".into(),
                session: Some(3),
                create_missing: false,
                create: None,
                changes: Vec::new(),
            },
        };
        let batches = vec![batch.clone(), batch];
        assert_eq!(
            serde_json::to_value(GroupBody { batches: &batches }).unwrap(),
            serde_json::to_value(BatchGroup { batches }).unwrap()
        );
    }

    #[test]
    fn bad_urls_are_refused_before_any_request() {
        for url in ["ftp://x", "not a url", "mailto:a@b"] {
            match HttpTarget::connect(url, "u", "p") {
                Err(TargetError::Refused(_)) => {}
                Err(e) => panic!("{url}: {e}"),
                Ok(_) => panic!("{url}: accepted"),
            }
        }
    }

    #[test]
    fn a_server_address_without_a_scheme_gets_http_suggested() {
        for (given, suggested) in [
            ("127.0.0.1:8740", "`http://127.0.0.1:8740`"),
            ("localhost:8740", "`http://localhost:8740`"),
            (" inventory.example.com ", "`http://inventory.example.com`"),
        ] {
            let e = server_url(given).unwrap_err();
            assert!(e.contains(suggested), "{given}: {e}");
        }
        assert!(server_url("ftp://x")
            .unwrap_err()
            .contains("http:// or https://"));
        assert_eq!(
            server_url("https://inv.example.com:8740/")
                .unwrap()
                .as_str(),
            "https://inv.example.com:8740/"
        );
    }

    #[test]
    fn retry_after_is_read_in_both_forms_and_bounded() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        let with = |value: &str| {
            let mut headers = header::HeaderMap::new();
            headers.insert(header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with(" 120 "), Some(MAX_RETRY_AFTER));
        let in_12_s = httpdate::fmt_http_date(now + Duration::from_secs(12));
        assert_eq!(with(&in_12_s), Some(Duration::from_secs(12)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        assert_eq!(with(&past), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(
            retry_after(&header::HeaderMap::new(), SystemTime::now()),
            None
        );
    }

    #[test]
    fn a_retry_waits_what_the_server_asks_or_a_jittered_step() {
        let step = Duration::from_millis(400);
        assert_eq!(
            wait_before_retry(step, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        let waits: std::collections::BTreeSet<Duration> = (0..64)
            .map(|_| wait_before_retry(step, Some(Duration::ZERO)))
            .chain((0..64).map(|_| wait_before_retry(step, None)))
            .collect();
        assert!(
            waits.iter().all(|w| *w >= step / 2 && *w <= step),
            "{waits:?}"
        );
        assert!(waits.len() > 1, "no jitter: {waits:?}");
    }

    #[test]
    fn only_loopback_servers_are_loopback() {
        for (url, expected) in [
            ("http://127.0.0.1:8740", true),
            ("http://127.9.8.7", true),
            ("http://[::1]:8740/", true),
            ("http://LocalHost:1", true),
            ("https://inventory.example.com", false),
            ("http://10.0.0.1:8740", false),
            ("http://[2001:db8::1]", false),
            ("http://localhost.example.com", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }

    #[test]
    fn an_unreachable_server_is_unavailable_after_the_retries() {
        // Port 9 (discard) on loopback: nothing listens there in a test environment.
        let retry = HttpRetry {
            attempts: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        // https too: TLS support is built in (without it this would be refused outright).
        for url in ["http://127.0.0.1:9", "https://127.0.0.1:9"] {
            let settings = HttpSettings {
                retry: retry.clone(),
                ..HttpSettings::default()
            };
            match HttpTarget::connect_with(url, "u", "p", settings) {
                Err(TargetError::Unavailable(m)) => assert!(m.contains("cannot reach"), "{m}"),
                Err(e) => panic!("{url}: {e}"),
                Ok(_) => panic!("{url}: connected to nothing"),
            }
        }
    }
}
