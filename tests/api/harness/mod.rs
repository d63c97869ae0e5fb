//! `TestApp`: the real router served on `127.0.0.1:0` over a fresh database,
//! with a shutdown the test controls, plus request helpers.
//!
//! [`TestApp::spawn`] serves a new SQLite file. The suites that also run on
//! PostgreSQL are bodies marked with [`backend_test!`], which gives each its
//! server (or database, or backend) once per backend.

mod backend;
mod database;

use std::{sync::Arc, time::Duration};

use canvas_server::{serve, App, AppState, Config, ShutdownReport};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::sync_client::SyncClient;

pub(crate) use backend::backend_test;
pub use backend::{heavy_test_turn, run_on, Backend, Given};
pub use database::{service_url, TestDatabase};

/// A running server over its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: std::net::SocketAddr,
    /// The server's state, for the checks below that no route offers.
    state: AppState,
    pub client: reqwest::Client,
    /// The database (shared with servers started on it by [`TestApp::restart`]).
    pub database: Arc<TestDatabase>,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<ShutdownReport>>>,
}

/// A registered account.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// A response: status, headers and body (parsed as JSON when it is JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// Asserts the contract's error envelope with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "body: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error message missing: {body}"
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        self
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// The `JWT_SECRET` of [`test_config`] (as long as the server requires).
pub const TEST_JWT_SECRET: &str = "test-secret-of-at-least-32-bytes!";

/// The configuration tests start from: fixed secret, quick saves.
pub fn test_config() -> Config {
    Config {
        bind_addr: "127.0.0.1:0".parse().expect("addr"),
        jwt_secret: Some(TEST_JWT_SECRET.to_owned()),
        save_debounce: Duration::from_millis(50),
        save_max_debounce: Duration::from_millis(200),
        // Suites register many users and open many sockets from one address;
        // the throttle tests turn the limits back on.
        rate_login_per_min: 0,
        rate_ws_connect_per_min: 0,
        rate_ws_msgs_per_sec: 0,
        rate_member_adds_per_min: 0,
        ..Config::default()
    }
}

impl TestApp {
    /// A server with [`test_config`] over a new SQLite file.
    pub async fn spawn() -> Self {
        Backend::Sqlite.spawn().await
    }

    /// A server with `config` over a new SQLite file (the configured
    /// database is replaced).
    pub async fn spawn_with(config: Config) -> Self {
        Backend::Sqlite.spawn_with(config).await
    }

    /// A server with `config` over `database` (which replaces the configured one).
    async fn start(mut config: Config, database: Arc<TestDatabase>) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            canvas_server::observability::init_tracing(canvas_server::config::LogFormat::Text);
        }
        config.database = database.location();
        let state = AppState(Arc::new(
            App::new(config.clone()).await.expect("app starts"),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, None, state.clone(), async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            addr,
            state,
            client: reqwest::Client::new(),
            database,
            config,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Graceful shutdown (as on SIGTERM); returns once the server has finished,
    /// with what its shutdown saved.
    pub async fn shutdown(&mut self) -> ShutdownReport {
        self.signal_shutdown();
        match self.server.take() {
            Some(server) => tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("server stops within 30 s")
                .expect("server task")
                .expect("server result"),
            None => ShutdownReport::default(),
        }
    }

    /// Sends the shutdown signal without waiting for the server to finish
    /// ([`TestApp::shutdown`] then waits).
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Starts another server with `config` over this one's database (two
    /// instances of one deployment; with `redis_url` set they share live boards).
    pub async fn spawn_sibling(&self, config: Config) -> Self {
        Self::start(config, Arc::clone(&self.database)).await
    }

    /// Shuts down and starts a new server over the same database.
    pub async fn restart(mut self) -> Self {
        self.shutdown().await;
        Self::start(self.config.clone(), Arc::clone(&self.database)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `ws://…/api/v1/boards/{id}/sync?token=…`
    pub fn sync_url(&self, board_id: &str, token: &str) -> String {
        format!(
            "ws://{}/api/v1/boards/{board_id}/sync?token={token}",
            self.addr
        )
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(Method::DELETE, path, token, None).await
    }

    /// POSTs raw bytes (a Yjs update) as `application/octet-stream`.
    pub async fn post_bytes(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> TestResponse {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// Registers `name@example.com` with a fixed password.
    pub async fn register(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let response = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": "password123", "display_name": name }),
            )
            .await;
        response.assert_status(201);
        let body = response.json();
        TestUser {
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
            email,
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// Creates a board owned by `owner`; returns its id.
    pub async fn create_board(&self, owner: &TestUser, name: &str) -> String {
        let response = self
            .post(
                "/api/v1/boards",
                Some(&owner.token),
                json!({ "name": name }),
            )
            .await;
        response.assert_status(201);
        response.json()["id"].as_str().expect("board id").to_owned()
    }

    /// Registers `name` and creates a board of theirs named "Plan": where
    /// most tests begin.
    pub async fn user_with_board(&self, name: &str) -> (TestUser, String) {
        let user = self.register(name).await;
        let board = self.create_board(&user, "Plan").await;
        (user, board)
    }

    /// Posts a Yjs update to `board` as `user` (`POST /boards/{id}/updates`).
    pub async fn post_update(&self, board: &str, user: &TestUser, update: Vec<u8>) -> TestResponse {
        let path = format!("/api/v1/boards/{board}/updates");
        self.post_bytes(&path, Some(&user.token), update).await
    }

    /// Reads `board`'s document as `user` (`GET /boards/{id}/state`).
    pub async fn board_state(&self, board: &str, user: &TestUser) -> TestResponse {
        self.get(&format!("/api/v1/boards/{board}/state"), Some(&user.token))
            .await
    }

    /// A sync client of `user`'s on `board`, its handshake done.
    pub async fn connect(&self, board: &str, user: &TestUser) -> SyncClient {
        crate::sync_client::connect(&self.sync_url(board, &user.token)).await
    }

    /// Shares a board with `member` as `role` (by its owner).
    pub async fn share(&self, board_id: &str, owner: &TestUser, member: &TestUser, role: &str) {
        self.put(
            &format!("/api/v1/boards/{board_id}/members"),
            Some(&owner.token),
            json!({ "email": member.email, "role": role }),
        )
        .await
        .assert_status(200);
    }

    /// Runs a read-only SQL count directly on the database.
    pub fn count(&self, sql: &str) -> i64 {
        self.database.count(sql)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// Sends a request built on [`TestApp::client`] (for headers or bodies the
    /// other helpers do not set) and collects the response.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        let response = request.send().await.expect("request sent");
        TestResponse {
            status: response.status(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.expect("body").to_vec(),
        }
    }

    /// Waits (up to 5 s) until the count query `sql` returns `expected`.
    pub async fn wait_for_count(&self, sql: &str, expected: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.count(sql);
            if n == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{sql}` is still {n} after 5 s, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks on the server's insides that no route offers.
impl TestApp {
    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many boards are loaded in memory.
    pub fn loaded_boards(&self) -> usize {
        self.state.boards.loaded_count()
    }

    /// Whether `board` is loaded in memory.
    pub fn is_loaded(&self, board: &str) -> bool {
        self.state.boards.loaded(board_uuid(board)).is_some()
    }

    /// The sockets on `board` (0 when it is not loaded).
    pub fn peers_on(&self, board: &str) -> usize {
        self.state
            .boards
            .loaded(board_uuid(board))
            .map_or(0, |live| live.peer_count())
    }

    /// Starts the boards' shutdown (the first step of a graceful shutdown,
    /// which fails readiness) without stopping the server.
    pub fn begin_board_shutdown(&self) {
        self.state.boards.begin_shutdown();
    }

    /// Closes the server's database pool under it.
    pub fn close_database(&self) {
        self.state.db.close();
    }

    /// The bytes of request bodies the server holds right now.
    pub fn buffered_body_bytes(&self) -> usize {
        self.state.body_budget.buffered_bytes()
    }
}

fn board_uuid(board: &str) -> uuid::Uuid {
    board.parse().expect("a board id")
}

/// A Yjs v1 update (against an empty document) that sets `key` to `value` in
/// the top-level map `m`.
pub fn yjs_update(key: &str, value: &str) -> Vec<u8> {
    use yrs::{Map, ReadTxn, Transact};
    let doc = yrs::Doc::new();
    let map = doc.get_or_insert_map("m");
    {
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, key, value);
    }
    let update = doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    update
}

/// The entries of the top-level map `m` of a document given as one Yjs v1 update.
pub fn yjs_map_entries(state: &[u8]) -> std::collections::BTreeMap<String, String> {
    use yrs::{updates::decoder::Decode, Map, Transact};
    let doc = yrs::Doc::new();
    let map = doc.get_or_insert_map("m");
    let update = yrs::Update::decode_v1(state).expect("state decodes as a v1 update");
    doc.transact_mut()
        .apply_update(update)
        .expect("state applies");
    let txn = doc.transact();
    map.iter(&txn)
        .map(|(key, value)| (key.to_owned(), value.to_string(&txn)))
        .collect()
}
