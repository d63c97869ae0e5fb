//! The real `canvas-server` binary as a child process, for the tests that
//! stop it (`kill -9`, SIGTERM): one way to start it for all of them.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::Receiver,
    time::Duration,
};

use serde_json::{json, Value};

use yrs::{Map, Transact, WriteTxn};

use crate::{harness::yjs_map_entries, sync_client::SyncClient};

/// The secret the binary signs tokens with (in-process siblings use it too).
pub const JWT_SECRET: &str = "kill-test-secret-of-at-least-32-bytes";

/// The real `canvas-server` binary, serving a database file.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    http: reqwest::Client,
    /// The log lines written after the address, read by a thread.
    logs: Receiver<String>,
}

impl Server {
    /// Starts the binary on port 0 over `database_url` (with `env` besides,
    /// or over, the test settings) and waits for the address it logs. `dir`
    /// is its working directory.
    pub fn start(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canvas-server"))
            // Nothing of the test's environment, nor a `.env` of the
            // repository, is read by the server.
            .env_clear()
            .current_dir(dir)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            // A test's instances, and the tests running beside it, share
            // the PostgreSQL server's connection limit.
            .env("DATABASE_POOL_SIZE", "4")
            .env("JWT_SECRET", JWT_SECRET)
            .env("SAVE_DEBOUNCE_MS", "60000")
            .env("SAVE_MAX_DEBOUNCE_MS", "60000")
            .env("RATE_LOGIN_PER_MIN", "0")
            .env("RATE_WS_CONNECT_PER_MIN", "0")
            .env("RATE_WS_MSGS_PER_SEC", "0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server binary starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, logs) = std::sync::mpsc::channel();
        // Reads the log until the process ends, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let addr = loop {
            let line = logs
                .recv_timeout(Duration::from_secs(60))
                .expect("server logged its address");
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if event["message"] == "canvas-server listening" {
                if let Some(addr) = event["addr"].as_str().and_then(|a| a.parse().ok()) {
                    break addr;
                }
            }
        };
        Self {
            child,
            addr,
            http: reqwest::Client::new(),
            logs,
        }
    }

    /// Waits until `/readyz` answers 200 (the database and Redis answer).
    pub async fn wait_until_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let ready = self
                .http
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|response| response.status().as_u16() == 200);
            if ready {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no last save.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then waits (up to 30 s) for the exit; returns whether it
    /// succeeded and the log lines written after the address. Blocks: call
    /// it from `spawn_blocking`.
    pub fn terminate(mut self) -> (bool, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the process is still running 30 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The process is gone: its output ends, and so does the reading thread.
        let logs = self.logs.iter().collect();
        (exit.success(), logs)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn sync_url(&self, board: &str, token: &str) -> String {
        format!(
            "ws://{}/api/v1/boards/{board}/sync?token={token}",
            self.addr
        )
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        post_json(&self.http, &self.url(path), token, body).await
    }

    /// Registers a user and creates a board; returns (token, board id).
    pub async fn user_and_board(&self) -> (String, String) {
        let registered = self
            .post_json(
                "/api/v1/auth/register",
                None,
                json!({ "email": "ada@example.com", "password": "password123" }),
            )
            .await;
        let token = registered["token"].as_str().expect("token").to_owned();
        let board = self
            .post_json("/api/v1/boards", Some(&token), json!({ "name": "Plan" }))
            .await;
        (token, board["id"].as_str().expect("id").to_owned())
    }

    pub async fn post_update(&self, board: &str, token: &str, update: Vec<u8>) -> u16 {
        self.http
            .post(self.url(&format!("/api/v1/boards/{board}/updates")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(update)
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    /// The value of one series of its `/metrics` (exactly as exported, labels
    /// included); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |value| value.trim().parse().expect("a number"))
    }

    /// The keys of the board's map `m`, as the server serves them.
    pub async fn keys(&self, board: &str, token: &str) -> BTreeSet<String> {
        let response = self
            .http
            .get(self.url(&format!("/api/v1/boards/{board}/state")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
        let bytes = response.bytes().await.expect("body");
        yjs_map_entries(&bytes).into_keys().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets `key` in the board's map `m` from `client`.
pub async fn set_key(client: &mut SyncClient, key: String) {
    client
        .edit(move |txn| {
            let map = txn.get_or_insert_map("m");
            map.insert(txn, key, "v");
        })
        .await;
}

/// The keys of the client's replica of map `m`.
pub fn keys_of(client: &SyncClient) -> BTreeSet<String> {
    let map = client.doc.get_or_insert_map("m");
    let txn = client.doc.transact();
    map.keys(&txn).map(str::to_owned).collect()
}

/// POSTs `body` as JSON to `url` (with `token` as bearer, if any), asserts
/// success, and returns the JSON answer.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.expect("json body")
}
