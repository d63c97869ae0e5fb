//! Shutdown (SIGTERM): saves never wait on clients, requests get at most
//! `SHUTDOWN_TIMEOUT_MS`, and boards left unsaved make the process fail.

use std::time::Duration;

use canvas_server::{protocol::message, Config};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use yrs::{Map, ReadTxn, Transact};

use crate::{
    harness::{test_config, yjs_map_entries, yjs_update, Backend, TestApp, TestDatabase},
    server_process::Server,
    sync_client::{connect, SyncClient},
};

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
    let (ada, board) = app.user_with_board("ada").await;
    app.post_update(&board, &ada, yjs_update("last", "edit"))
        .await
        .assert_status(204);
    board
}

/// [`no_debounce_saves`] with a shutdown deadline (60 s) past the harness's
/// patience (30 s): only a shutdown that does not wait on clients passes.
fn shutdown_past_the_harness_patience() -> Config {
    Config {
        shutdown_timeout: Duration::from_secs(60),
        ..no_debounce_saves()
    }
}

#[tokio::test]
async fn a_stalled_request_body_does_not_hold_up_the_saves_at_shutdown() {
    let mut app = TestApp::spawn_with(shutdown_past_the_harness_patience()).await;
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
    let mut app = TestApp::spawn_with(config).await;
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

/// How many edits a client sends right before the shutdown: more than the
/// server handles before it is told to close (so some are still unread).
const EDITS_BEFORE_SHUTDOWN: usize = 2_000;

/// Sends `edits` edits (keys `edit-0`, `edit-1`, …) in one write, as a
/// client sends what it queued, and waits for no answer.
async fn send_edits(client: &mut SyncClient, edits: usize) {
    let map = client.doc.get_or_insert_map("m");
    let mut frames = Vec::with_capacity(edits);
    for n in 0..edits {
        let before = client.doc.transact().state_vector();
        map.insert(&mut client.doc.transact_mut(), format!("edit-{n}"), "v");
        let update = client.doc.transact().encode_diff_v1(&before);
        frames.push(message::encode_update(&update));
    }
    client.send_raw_burst(frames).await;
}

/// Asserts that the stored state holds every key of [`send_edits`].
#[track_caller]
fn assert_every_edit_saved(stored: &[u8], edits: usize) {
    let saved = yjs_map_entries(stored);
    let lost: Vec<String> = (0..edits)
        .map(|n| format!("edit-{n}"))
        .filter(|key| !saved.contains_key(key))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {edits} edits lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}

/// A server with `config`, a board of a new user and a socket on it.
async fn board_with_socket(config: Config) -> (TestApp, String, SyncClient) {
    let app = TestApp::spawn_with(config).await;
    let (ada, board) = app.user_with_board("ada").await;
    let client = app.connect(&board, &ada).await;
    (app, board, client)
}

/// Shuts `app` down and asserts that the saved `board` holds every edit of
/// [`send_edits`].
async fn assert_shutdown_saves_every_edit(app: &mut TestApp, board: &str, edits: usize) {
    let report = app.shutdown().await;
    assert!(report.unsaved.is_empty());
    let stored = app
        .database
        .stored_state(board)
        .expect("the board was saved");
    assert_every_edit_saved(&stored, edits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_edits_sent_just_before_the_shutdown_are_all_saved() {
    let (mut app, board, mut client) = board_with_socket(no_debounce_saves()).await;
    send_edits(&mut client, EDITS_BEFORE_SHUTDOWN).await;
    assert_shutdown_saves_every_edit(&mut app, &board, EDITS_BEFORE_SHUTDOWN).await;
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_sent_in_part_before_the_shutdown_does_not_hold_it_up() {
    let config = shutdown_past_the_harness_patience();
    let (mut app, board, mut client) = board_with_socket(config).await;
    send_edits(&mut client, 50).await;
    // A masked binary frame announcing 1000 bytes, with 10 of them: the rest
    // never comes.
    let mut partial = vec![0x82, 0x80 | 126, 0x03, 0xE8, 1, 2, 3, 4];
    partial.extend_from_slice(&[0; 10]);
    client.write_unframed(&partial).await;
    assert_shutdown_saves_every_edit(&mut app, &board, 50).await;
    drop(client);
}

/// The `canvas-server` binary over `database`, where only the shutdown saves
/// and only the shutdown (after `shutdown_timeout_ms`) may end a request.
fn start_server(database: &TestDatabase, shutdown_timeout_ms: u64) -> Server {
    let shutdown_timeout_ms = shutdown_timeout_ms.to_string();
    Server::start(
        &std::env::temp_dir(),
        &database.url(),
        &[
            ("SAVE_DEBOUNCE_MS", "600000"),
            ("SAVE_MAX_DEBOUNCE_MS", "600000"),
            ("SHUTDOWN_TIMEOUT_MS", &shutdown_timeout_ms),
            ("REQUEST_TIMEOUT_MS", "600000"),
        ],
    )
}

/// Logs in as a new user of the binary and makes a board dirty over REST.
async fn dirty_board_on(server: &Server) -> String {
    let (token, board) = server.user_and_board().await;
    assert_eq!(
        server
            .post_update(&board, &token, yjs_update("last", "edit"))
            .await,
        204
    );
    board
}

#[tokio::test]
async fn sigterm_saves_the_boards_and_exits_zero_despite_a_stalled_client() {
    let database = Backend::Sqlite.database();
    let server = start_server(&database, 2_000);
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
    let database = Backend::Sqlite.database();
    let server = start_server(&database, 1_000);
    let board = dirty_board_on(&server).await;
    // Another writer holds the database's write lock until the process is gone:
    // every save fails (or waits past the deadline).
    let TestDatabase::Sqlite { path, .. } = &database else {
        panic!("a SQLite database");
    };
    let mut blocker =
        SqliteConnection::establish(&path.to_string_lossy()).expect("open the database");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_saves_the_socket_edits_sent_just_before_it() {
    let database = Backend::Sqlite.database();
    let server = start_server(&database, 10_000);
    let (token, board) = server.user_and_board().await;
    let mut client = connect(&server.sync_url(&board, &token)).await;
    send_edits(&mut client, EDITS_BEFORE_SHUTDOWN).await;
    let (succeeded, logs) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminate");
    drop(client);
    assert!(succeeded, "exit status 0; logs: {logs:#?}");
    let stored = database.stored_state(&board).expect("the board was saved");
    assert_every_edit_saved(&stored, EDITS_BEFORE_SHUTDOWN);
}
