//! Rate limits: login/register attempts and WebSocket upgrades per client IP
//! (HTTP 429 with `Retry-After`), messages per socket (close 1008), and which
//! IP counts when the server sits behind a proxy.

use serde_json::json;
use yrs::{Map, WriteTxn};

use crate::{
    harness::{test_config, TestApp, TestResponse},
    sync_client::{content_of, try_connect, Ended},
};

async fn login(app: &TestApp, forwarded_for: Option<&str>) -> TestResponse {
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "nobody@example.com", "password": "password123" }));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    app.send(request).await
}

#[tokio::test]
async fn login_attempts_over_the_limit_get_429_with_retry_after() {
    let app = TestApp::spawn_with(canvas_server::Config {
        rate_login_per_min: 3,
        ..test_config()
    })
    .await;
    for _ in 0..3 {
        login(&app, None).await.assert_error(401, "unauthorized");
    }
    let refused = login(&app, None).await;
    refused.assert_error(429, "too_many_requests");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    // Registering is an attempt too.
    app.post(
        "/api/v1/auth/register",
        None,
        json!({ "email": "new@example.com", "password": "password123" }),
    )
    .await
    .assert_error(429, "too_many_requests");
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit() {
    let app = TestApp::spawn_with(canvas_server::Config {
        rate_login_per_min: 2,
        ..test_config()
    })
    .await;
    login(&app, Some("203.0.113.1")).await.assert_status(401);
    login(&app, Some("203.0.113.2")).await.assert_status(401);
    login(&app, Some("203.0.113.3"))
        .await
        .assert_error(429, "too_many_requests");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = TestApp::spawn_with(canvas_server::Config {
        rate_login_per_min: 1,
        trusted_proxies: "127.0.0.1".parse().expect("proxies"),
        ..test_config()
    })
    .await;
    login(&app, Some("203.0.113.1")).await.assert_status(401);
    login(&app, Some("203.0.113.2")).await.assert_status(401);
    login(&app, Some("203.0.113.1"))
        .await
        .assert_error(429, "too_many_requests");
}

#[tokio::test]
async fn websocket_upgrades_over_the_limit_get_http_429() {
    let app = TestApp::spawn_with(canvas_server::Config {
        rate_ws_connect_per_min: 2,
        ..test_config()
    })
    .await;
    let (ada, board) = app.user_with_board("ada").await;
    let _first = app.connect(&board, &ada).await;
    let _second = app.connect(&board, &ada).await;
    assert_eq!(
        try_connect(&app.sync_url(&board, &ada.token)).await.err(),
        Some(429)
    );
}

#[tokio::test]
async fn a_flooding_socket_is_closed_1008_while_its_board_keeps_serving() {
    let app = TestApp::spawn_with(canvas_server::Config {
        rate_ws_msgs_per_sec: 5,
        ..test_config()
    })
    .await;
    let (ada, board) = app.user_with_board("ada").await;
    let mut writer = app.connect(&board, &ada).await;
    let mut reader = app.connect(&board, &ada).await;
    let mut flooder = app.connect(&board, &ada).await;
    // Burst allowance is 10 × 5 = 50 messages (the handshake used one).
    for clock in 0..200 {
        flooder.set_awareness(clock, r#"{"spam":true}"#).await;
    }
    assert_eq!(flooder.ended().await, Ended::Closed(1008));
    writer
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "still", "here");
        })
        .await;
    reader
        .wait_for(|c| content_of(&c.state())["map"]["still"] == "here")
        .await;
}

#[tokio::test]
async fn member_additions_over_the_limit_get_429_with_retry_after() {
    let app = TestApp::spawn_with(canvas_server::Config {
        rate_member_adds_per_min: 2,
        ..test_config()
    })
    .await;
    let (ada, board) = app.user_with_board("ada").await;
    let members = format!("/api/v1/boards/{board}/members");
    let add = |email: &str| json!({ "email": email, "role": "viewer" });
    // Probing for accounts: each answer says whether the email has one.
    for guess in ["a@example.com", "b@example.com"] {
        app.put(&members, Some(&ada.token), add(guess))
            .await
            .assert_error(404, "not_found");
    }
    let refused = app
        .put(&members, Some(&ada.token), add("c@example.com"))
        .await;
    refused.assert_error(429, "too_many_requests");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    // The allowance is the caller's own: another user is not held up.
    let bob = app.register("bob").await;
    let bobs_board = app.create_board(&bob, "Bob's").await;
    app.put(
        &format!("/api/v1/boards/{bobs_board}/members"),
        Some(&bob.token),
        add("ada@example.com"),
    )
    .await
    .assert_status(200);
}
