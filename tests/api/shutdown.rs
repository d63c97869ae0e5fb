//! Shutdown (SIGTERM): saves never wait on clients, requests get at most
//! `SHUTDOWN_TIMEOUT_MS`, and boards left unsaved make the process fail.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use canvas_server::Config;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::harness::{test_config, yjs_map_entries, yjs_update, TestApp, TestDatabase};

/// A configuration where only the shutdown saves anything.
fn no_debounce_saves() -> Config {
    Config {
        save_debounce: Duration::from_secs(600),
        save_max_debounce: Duration::from_secs(600),
        ..test_config()
    }
}

/// A client on `addr` whose login request announced 100 bytes of body and
/// sent one. It asks for `100 Continue`, which the server sends once the
/// handler reads the body: the request is then surely in flight.
async fn stalled_login(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .await
        .expect("write");
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("100 Continue") {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("100 Continue")
            .expect("read");
        assert!(n > 0, "connection closed before 100 Continue");
        seen.extend_from_slice(&buf[..n]);
    }
    stream.write_all(b"{").await.expect("write");
    stream
}

/// Reads until the server closes the connection (with a generous bound, so a
/// connection held open fails the test instead of hanging it).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut seen))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&seen).into_owned()
}

/// A board of a new user, made dirty by `POST /updates` (not saved yet).
async fn dirty_board(app: &TestApp) -> String {
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(&ada.token),
        yjs_update("last", "edit"),
    )
    .await
    .assert_status(204);
    board
}

#[tokio::test]
async fn a_stalled_request_body_does_not_hold_up_the_saves_at_shutdown() {
    let config = Config {
        // Long enough that only a save not waiting on the client passes.
        shutdown_timeout: Duration::from_secs(60),
        ..no_debounce_saves()
    };
    let Some(mut app) = TestApp::spawn_with(config).await else {
        return;
    };
    let board = dirty_board(&app).await;
    let stalled = stalled_login(app.addr).await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM board_states"), 0);

    app.signal_shutdown();
    // Saved while the stalled client still holds its request open.
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;
    let stored = app.database.stored_state(&board).expect("stored");
    assert!(yjs_map_entries(&stored).contains_key("last"));
    drop(stalled);
    let report = app.shutdown().await;
    assert_eq!(report.saved, 1);
    assert!(report.unsaved.is_empty());
}

#[tokio::test]
async fn requests_still_in_flight_at_the_shutdown_timeout_are_closed() {
    let config = Config {
        shutdown_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(600),
        ..no_debounce_saves()
    };
    let Some(mut app) = TestApp::spawn_with(config).await else {
        return;
    };
    dirty_board(&app).await;
    let mut stalled = stalled_login(app.addr).await;
    // `serve` returns although the client never finishes its request (the
    // harness fails the test if it takes 30 s) ...
    let report = app.shutdown().await;
    assert_eq!(report.saved, 1);
    // ... and the client's connection was closed, not left open.
    let answer = read_to_close(&mut stalled).await;
    assert!(!answer.contains(" 200 "), "{answer}");
}

/// The `canvas-server` binary, started on a port of its own over `database`.
struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    /// Log lines after the start, read by a thread.
    logs: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(database: &TestDatabase, shutdown_timeout_ms: u64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canvas-server"))
            .env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url(database))
            .env("JWT_SECRET", "a-test-secret-that-is-long-enough-0123")
            .env("SAVE_DEBOUNCE_MS", "600000")
            .env("SAVE_MAX_DEBOUNCE_MS", "600000")
            .env("SHUTDOWN_TIMEOUT_MS", shutdown_timeout_ms.to_string())
            .env("RATE_LOGIN_PER_MIN", "0")
            // Longer than any test waits: only the shutdown may end a request.
            .env("REQUEST_TIMEOUT_MS", "600000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, logs) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let addr = loop {
            let line = logs
                .recv_timeout(Duration::from_secs(30))
                .expect("the binary logs its address");
            if line.contains("canvas-server listening") {
                let value: serde_json::Value =
                    serde_json::from_str(&line).expect("a JSON log line");
                break value["addr"]
                    .as_str()
                    .expect("addr field")
                    .parse()
                    .expect("an address");
            }
        };
        Self { child, addr, logs }
    }

    /// Sends SIGTERM and waits (up to 30 s) for the exit; returns whether it
    /// succeeded and the log lines written meanwhile.
    fn terminate(mut self) -> (bool, Vec<String>) {
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
}

fn database_url(database: &TestDatabase) -> String {
    match database.location() {
        canvas_server::config::DatabaseLocation::SqliteFile(path) => format!("sqlite://{path}"),
        other => panic!("the binary tests run on SQLite files, not {other:?}"),
    }
}

/// Logs in as a new user of the binary and makes a board dirty over REST.
async fn dirty_board_on(server: &Server) -> String {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let registered: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "ada@example.com", "password": "password123"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = registered["token"].as_str().expect("token").to_owned();
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/boards"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Plan"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let board = created["id"].as_str().expect("board id").to_owned();
    let applied = client
        .post(format!("{base}/api/v1/boards/{board}/updates"))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(yjs_update("last", "edit"))
        .send()
        .await
        .expect("update");
    assert_eq!(applied.status().as_u16(), 204);
    board
}

#[tokio::test]
async fn sigterm_saves_the_boards_and_exits_zero_despite_a_stalled_client() {
    if crate::BACKEND != crate::harness::Backend::Sqlite {
        return;
    }
    let database = TestDatabase::create().expect("a SQLite database");
    let server = Server::start(&database, 2_000);
    let board = dirty_board_on(&server).await;
    let stalled = stalled_login(server.addr).await;
    let (succeeded, logs) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminate");
    drop(stalled);
    assert!(succeeded, "exit status 0; logs: {logs:#?}");
    assert!(
        database.stored_state(&board).is_some(),
        "the dirty board was saved"
    );
}

#[tokio::test]
async fn a_board_that_cannot_be_saved_by_the_deadline_is_named_and_the_exit_fails() {
    use diesel::{connection::SimpleConnection, Connection, SqliteConnection};
    if crate::BACKEND != crate::harness::Backend::Sqlite {
        return;
    }
    let database = TestDatabase::create().expect("a SQLite database");
    let server = Server::start(&database, 1_000);
    let board = dirty_board_on(&server).await;
    // Another writer holds the database's write lock until the process is gone:
    // every save fails (or waits past the deadline).
    let path = match database.location() {
        canvas_server::config::DatabaseLocation::SqliteFile(path) => path,
        other => panic!("not a file: {other:?}"),
    };
    let mut blocker = SqliteConnection::establish(&path).expect("open the database");
    blocker
        .batch_execute("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let (succeeded, logs) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminate");
    assert!(!succeeded, "a non-zero exit status; logs: {logs:#?}");
    assert!(
        logs.iter()
            .any(|line| line.contains("\"ERROR\"") && line.contains(&board)),
        "an error log names the board: {logs:#?}"
    );
    blocker.batch_execute("ROLLBACK").expect("release");
}
