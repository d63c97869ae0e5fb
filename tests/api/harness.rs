//! `TestApp`: the real router served on `127.0.0.1:0` over a fresh database,
//! with a shutdown the test controls, plus request helpers.
//!
//! The database is a new SQLite file, or, in the `postgres` test binary (which
//! runs the same suites), a new schema in the PostgreSQL database named by
//! `TEST_POSTGRES_URL`, dropped when the test ends. Without that variable those
//! tests are skipped: [`TestApp::spawn`] returns `None` and says why.

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Once},
    time::Duration,
};

use canvas_server::{config::DatabaseLocation, serve, App, AppState, Config};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// Which database the suites run on: set by each test binary's `BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of the test's own, removed when the last server using it is gone.
pub enum TestDatabase {
    Sqlite {
        /// Held for its `Drop`, which removes the file.
        _dir: TempDir,
        path: PathBuf,
    },
    Postgres {
        /// `TEST_POSTGRES_URL`, where the schema is created and dropped.
        admin_url: String,
        schema: String,
        /// The URL the server gets: the schema first on its search path.
        url: String,
    },
}

impl TestDatabase {
    /// A new empty database of the binary's backend; `None` (with the reason
    /// printed once) when that backend is not available here.
    pub fn create() -> Option<Self> {
        match crate::BACKEND {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("canvas.db");
                Some(Self::Sqlite { _dir: dir, path })
            }
            Backend::Postgres => {
                let Some(admin_url) = postgres_url() else {
                    // CI provides the database; a skip there would hide a failure.
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI=true but TEST_POSTGRES_URL is not set (.ci/run sets it)"
                    );
                    static SAID: Once = Once::new();
                    SAID.call_once(|| {
                        let _ = writeln!(
                            std::io::stderr(),
                            "skipped: the PostgreSQL suites need TEST_POSTGRES_URL \
                             (e.g. postgres://postgres@127.0.0.1:5432/test)"
                        );
                    });
                    return None;
                };
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                postgres_execute(&admin_url, &format!("CREATE SCHEMA {schema}"));
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
                Some(Self::Postgres {
                    admin_url,
                    schema,
                    url,
                })
            }
        }
    }

    pub fn location(&self) -> DatabaseLocation {
        match self {
            Self::Sqlite { path, .. } => {
                DatabaseLocation::SqliteFile(path.to_string_lossy().into_owned())
            }
            Self::Postgres { url, .. } => DatabaseLocation::Postgres(url.clone()),
        }
    }

    /// Runs a read-only SQL count directly on the database.
    pub fn count(&self, sql: &str) -> i64 {
        use diesel::{
            sql_types::BigInt, Connection, PgConnection, QueryableByName, RunQueryDsl,
            SqliteConnection,
        };
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(sql);
        let count = match self {
            Self::Sqlite { path, .. } => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .expect("open database file");
                query.get_result::<Count>(&mut conn)
            }
            Self::Postgres { url, .. } => {
                let mut conn = PgConnection::establish(url).expect("connect to PostgreSQL");
                query.get_result::<Count>(&mut conn)
            }
        };
        count.expect("count query").n
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres {
            admin_url, schema, ..
        } = self
        {
            postgres_execute(
                admin_url,
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            );
        }
        // A SQLite file goes with its temporary directory.
    }
}

/// `TEST_POSTGRES_URL`, when set and not empty.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Runs one statement on PostgreSQL (schema set-up and clean-up).
pub fn postgres_execute(url: &str, sql: &str) {
    use diesel::{connection::SimpleConnection, Connection, PgConnection};
    let mut conn = PgConnection::establish(url).expect("connect to TEST_POSTGRES_URL");
    conn.batch_execute(sql)
        .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"));
}

/// A running server over its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: std::net::SocketAddr,
    /// The server's state (database, live boards) for direct checks.
    pub state: AppState,
    pub client: reqwest::Client,
    /// The database (shared with servers started on it by [`TestApp::restart`]).
    pub database: Arc<TestDatabase>,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
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

/// The configuration tests start from: fixed secret, quick saves.
pub fn test_config() -> Config {
    Config {
        bind_addr: "127.0.0.1:0".parse().expect("addr"),
        jwt_secret: Some("test-secret".to_owned()),
        save_debounce: Duration::from_millis(50),
        save_max_debounce: Duration::from_millis(200),
        // Suites register many users and open many sockets from one address;
        // the throttle tests turn the limits back on.
        rate_login_per_min: 0,
        rate_ws_connect_per_min: 0,
        rate_ws_msgs_per_sec: 0,
        ..Config::default()
    }
}

impl TestApp {
    /// A server with [`test_config`] over a new database; `None` when the
    /// binary's backend is not available (the test is then skipped).
    pub async fn spawn() -> Option<Self> {
        Self::spawn_with(test_config()).await
    }

    /// A server with `config` (its database is replaced by a new one).
    pub async fn spawn_with(config: Config) -> Option<Self> {
        let database = Arc::new(TestDatabase::create()?);
        Some(Self::start(config, database).await)
    }

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

    /// Graceful shutdown (as on SIGTERM); returns once the server has finished.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("server stops within 30 s")
                .expect("server task")
                .expect("server result");
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
