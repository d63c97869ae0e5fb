//! Request bodies: one that stops arriving is answered `408` and its
//! connection closed after `REQUEST_TIMEOUT_MS`; large bodies share a bounded
//! memory budget, past which they are refused with `503` and `Retry-After`.

use std::time::Duration;

use canvas_server::Config;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::harness::{test_config, yjs_update, TestApp};

/// Sends `head` (a request line and headers, without the blank line) and
/// `body_part`, then reads until the server closes the connection.
async fn send_and_read_to_close(
    addr: std::net::SocketAddr,
    head: &str,
    body_part: &[u8],
) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .expect("write head");
    stream.write_all(body_part).await.expect("write body");
    let mut seen = Vec::new();
    // A generous bound: a connection held open fails the test, not hangs it.
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut seen))
        .await
        .expect("the server answers and closes the connection")
        .ok();
    String::from_utf8_lossy(&seen).into_owned()
}

fn quick_request_timeout() -> Config {
    Config {
        request_timeout: Duration::from_millis(300),
        ..test_config()
    }
}

#[track_caller]
fn assert_request_timeout(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_login_body_that_stops_arriving_is_answered_408_and_the_connection_closed() {
    let app = TestApp::spawn_with(quick_request_timeout()).await;
    let answer = send_and_read_to_close(
        app.addr,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100",
        b"{",
    )
    .await;
    assert_request_timeout(&answer);
}

#[tokio::test]
async fn an_update_body_that_stops_arriving_is_answered_408_and_the_connection_closed() {
    let app = TestApp::spawn_with(quick_request_timeout()).await;
    let (ada, board) = app.user_with_board("ada").await;
    let head = format!(
        "POST /api/v1/boards/{board}/updates HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 200000",
        ada.token
    );
    let answer = send_and_read_to_close(app.addr, &head, &[0u8; 100_000]).await;
    assert_request_timeout(&answer);
    // What it held is given back.
    assert_eq!(app.buffered_body_bytes(), 0);
}

#[tokio::test]
async fn large_bodies_beyond_the_memory_budget_are_refused_with_retry_after() {
    const MAX: usize = 128 * 1024;
    let config = Config {
        // A budget of four such bodies.
        max_message_bytes: MAX,
        request_timeout: Duration::from_secs(3),
        ..test_config()
    };
    let app = TestApp::spawn_with(config).await;
    let (ada, board) = app.user_with_board("ada").await;
    let head = |length: usize| {
        format!(
            "POST /api/v1/boards/{board}/updates HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {length}",
            ada.token
        )
    };
    // Four clients send most of a maximal body, then stop.
    let sent = MAX - 1024;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream
            .write_all(format!("{}\r\n\r\n", head(MAX)).as_bytes())
            .await
            .expect("head");
        stream.write_all(&vec![0u8; sent]).await.expect("body");
        stalled.push(stream);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.buffered_body_bytes() < 4 * sent {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled bodies were never buffered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A fifth large body does not fit: refused at once, before it is sent.
    let update = yjs_update("big", &"x".repeat(100_000));
    let answer = send_and_read_to_close(app.addr, &head(update.len()), b"").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("\"code\":\"service_unavailable\""),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    // A small body still passes.
    app.post_update(&board, &ada, yjs_update("small", "ok"))
        .await
        .assert_status(204);

    // Once the stalled bodies time out, their share is given back.
    for mut stream in stalled {
        let mut seen = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut seen))
            .await
            .expect("closed after the request timeout")
            .ok();
        assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 408"));
    }
    assert_eq!(app.buffered_body_bytes(), 0);
    app.post_update(&board, &ada, update)
        .await
        .assert_status(204);
}
