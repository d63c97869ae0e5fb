//! `kill -9` of the real binary: what the server relayed or answered `204`
//! before the kill is there after a restart on the same database file, though
//! saves were a minute away (only the journal can have kept it).

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use yrs::{Map, Transact, WriteTxn};

use crate::{
    harness::{yjs_map_entries, yjs_update},
    sync_client::{connect, SyncClient},
};

/// The longest a socket update may wait for its commit (API.md: Durability).
const GROUP_COMMIT_PROMISE: Duration = Duration::from_millis(50);

/// The real `canvas-server` binary, serving a database file.
struct Server {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Server {
    /// Starts the binary on port 0 and waits for the address it logs.
    fn start(dir: &Path) -> Self {
        let db = dir.join("canvas.db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_canvas-server"))
            // No `.env` of the repository is read from here.
            .current_dir(dir)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("JWT_SECRET", "kill-test-secret-of-at-least-32-bytes")
            .env("SAVE_DEBOUNCE_MS", "60000")
            .env("SAVE_MAX_DEBOUNCE_MS", "60000")
            .env("RATE_LOGIN_PER_MIN", "0")
            .env("RATE_WS_CONNECT_PER_MIN", "0")
            .env("RATE_WS_MSGS_PER_SEC", "0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server binary starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the log until the process ends, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if event["message"] == "canvas-server listening" {
                    if let Some(addr) = event["addr"].as_str().and_then(|a| a.parse().ok()) {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr: SocketAddr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server logged its address");
        Self {
            child,
            addr,
            http: reqwest::Client::new(),
        }
    }

    /// SIGKILL: no shutdown, no last save.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn sync_url(&self, board: &str, token: &str) -> String {
        format!(
            "ws://{}/api/v1/boards/{board}/sync?token={token}",
            self.addr
        )
    }

    async fn post_json(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("json body")
    }

    /// Registers a user and creates a board; returns (token, board id).
    async fn user_and_board(&self) -> (String, String) {
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

    async fn post_update(&self, board: &str, token: &str, update: Vec<u8>) -> u16 {
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

    /// The keys of the board's map `m`, as the server serves them.
    async fn keys(&self, board: &str, token: &str) -> BTreeSet<String> {
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

async fn set_key(client: &mut SyncClient, key: String) {
    client
        .edit(move |txn| {
            let map = txn.get_or_insert_map("m");
            map.insert(txn, key, "v");
        })
        .await;
}

fn keys_of(client: &SyncClient) -> BTreeSet<String> {
    let map = client.doc.get_or_insert_map("m");
    let txn = client.doc.transact();
    map.keys(&txn).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_edits_100_ms_old_and_a_rest_update_answered_204_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let (token, board) = server.user_and_board().await;
    let mut writer = connect(&server.sync_url(&board, &token)).await;
    let mut reader = connect(&server.sync_url(&board, &token)).await;
    let mut expected = BTreeSet::new();
    for n in 0..200 {
        let key = format!("socket-{n}");
        expected.insert(key.clone());
        set_key(&mut writer, key).await;
    }
    let last_edit = Instant::now();
    assert_eq!(
        server
            .post_update(&board, &token, yjs_update("rest", "r"))
            .await,
        204
    );
    expected.insert("rest".to_owned());
    // The server had them: it relayed them all.
    reader
        .wait_for(|client| keys_of(client).len() == expected.len())
        .await;
    // The scenario: the kill comes 100 ms after the last socket edit.
    tokio::time::sleep(
        (last_edit + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    server.kill_9();
    drop((writer, reader));

    let server = Server::start(dir.path());
    assert_eq!(server.keys(&board, &token).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edit_relayed_50_ms_before_a_kill_9_during_continuous_editing_survives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let (token, board) = server.user_and_board().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..5 {
        let mut client = connect(&server.sync_url(&board, &token)).await;
        let stop = Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                set_key(&mut client, format!("w{writer}-{n}")).await;
                n += 1;
                // Paced like a person drawing fast, not a flood.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    // Another client records when each edit reached it (relayed by the server).
    let relayed: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut observer = connect(&server.sync_url(&board, &token)).await;
    let record = Arc::clone(&relayed);
    let observing = tokio::spawn(async move {
        let mut seen = BTreeSet::new();
        loop {
            let known = seen.len();
            // Panics when the socket ends at the kill: what was recorded stays.
            observer
                .wait_for(|client| keys_of(client).len() > known)
                .await;
            let at = Instant::now();
            let keys = keys_of(&observer);
            let mut record = record.lock().expect("lock");
            for key in keys.difference(&seen) {
                record.push((key.clone(), at));
            }
            seen = keys;
        }
    });
    // Edit for a while, then kill in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while relayed.lock().expect("lock").len() < 1_000 {
        assert!(Instant::now() < deadline, "edits are relayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    server.kill_9();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        let _ = writer.await;
    }
    let _ = observing.await;

    let must_survive: BTreeSet<String> = relayed
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, at)| *at + GROUP_COMMIT_PROMISE <= killed_at)
        .map(|(key, _)| key.clone())
        .collect();
    assert!(
        must_survive.len() >= 500,
        "only {} edits to check",
        must_survive.len()
    );
    let server = Server::start(dir.path());
    let stored = server.keys(&board, &token).await;
    let lost: Vec<_> = must_survive.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} edits relayed before the kill were lost, e.g. {:?}",
        lost.len(),
        must_survive.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}
