//! Helpers shared by the router tests: a request through the real router without a socket,
//! and the answer with its body read.

#![allow(dead_code)] // each test file uses its own part of the helpers

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use std::net::SocketAddr;
use tapesync_server::{router, AppState, ServerConfig, StorePool};
use tapesync_store::testing::TestDatabase;
use tapesync_store::StoreLocation;
use tower::ServiceExt;

/// The router over the store at `location`, as if every request came from 127.0.0.1:4000.
pub fn app(location: &StoreLocation, config: ServerConfig) -> Router {
    app_from(location, config, SocketAddr::from(([127, 0, 0, 1], 4000)))
}

/// The router and its state over the store at `location` (requests from 127.0.0.1:4000).
pub fn app_with_state(location: &StoreLocation, config: ServerConfig) -> (Router, AppState) {
    let state = AppState::new(StorePool::open(location, 2).unwrap(), config);
    let app =
        router(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
    (app, state)
}

/// The router over the store at `location`, as if every request came from `peer`.
pub fn app_from(location: &StoreLocation, config: ServerConfig, peer: SocketAddr) -> Router {
    let state = AppState::new(StorePool::open(location, 2).unwrap(), config);
    router(state).layer(MockConnectInfo(peer))
}

/// An empty store on each backend: a SQLite file, and a PostgreSQL schema of its own when
/// a test database is configured (see `tapesync_store::testing`).
pub struct Backend {
    pub name: &'static str,
    pub location: StoreLocation,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

pub fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Backend {
        name: "SQLite",
        location: StoreLocation::File(dir.path().join("inv.db")),
        _dir: Some(dir),
        _db: None,
    }];
    if let Some(db) = TestDatabase::create() {
        out.push(Backend {
            name: "PostgreSQL",
            location: db.location(),
            _dir: None,
            _db: Some(db),
        });
    }
    out
}

/// Runs `f` on a thread of its own: opening a PostgreSQL store blocks, which a test's async
/// thread must not do.
pub fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .expect("the blocking part panicked")
}

/// Names the backend in the output of a test that fails while it is in scope.
pub struct Named(pub &'static str);

impl Drop for Named {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failure above was on the {} backend)", self.0);
        }
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

pub async fn call(app: &Router, req: Request<Body>) -> Answer {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::empty()).unwrap()
}

pub fn post(path: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    post_raw(path, token, serde_json::to_vec(body).unwrap())
}

pub fn post_raw(path: &str, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::from(body)).unwrap()
}

/// One logon request, whatever its answer.
pub async fn logon_attempt(app: &Router, user: &str, password: &str) -> Answer {
    call(
        app,
        post(
            "/api/v1/logon",
            None,
            &json!({"user": user, "password": password}),
        ),
    )
    .await
}

/// Logs on and returns the token.
pub async fn logon(app: &Router, user: &str, password: &str) -> String {
    let a = logon_attempt(app, user, password).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    a.json()["token"].as_str().unwrap().to_string()
}
