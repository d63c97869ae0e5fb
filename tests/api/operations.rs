//! `/metrics`, `/readyz`, request ids: what an operator watches.

use std::time::Duration;

use yrs::{Map, WriteTxn};

use crate::{
    harness::TestApp,
    hostile_input::HAZARD,
    sync_client::{connect, content_of, Ended},
};

/// The value of one series (exact name and label set as exposed), or 0.
fn series(exposition: &str, name_and_labels: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (series == name_and_labels).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics", None).await;
    response.assert_status(200);
    let content_type = response.headers["content-type"].to_str().expect("header");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text()
}

// Metrics are process-wide and tests run in parallel, so each check is a
// "moved by at least" comparison against a scrape taken just before.

#[tokio::test]
async fn a_request_moves_the_http_series_of_its_route() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let series_name = r#"http_requests_total{method="GET",route="/healthz",status="200"}"#;
    let before = series(&scrape(&app).await, series_name);
    app.get("/healthz", None).await.assert_status(200);
    let after = scrape(&app).await;
    assert!(series(&after, series_name) >= before + 1.0);
    assert!(after.contains(
        r#"http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="#
    ));
    // Routes, never raw paths with ids.
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    app.get(&format!("/api/v1/boards/{board}"), Some(&ada.token))
        .await;
    let after = scrape(&app).await;
    assert!(after.contains(r#"route="/api/v1/boards/{id}""#));
    assert!(!after.contains(&board));
}

/// The value of `label` in an exposition line (`name{a="x",b="y"} 1`).
fn label<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let start = line.find(&format!("{label}=\""))? + label.len() + 2;
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

#[tokio::test]
async fn made_up_methods_and_unmatched_paths_are_labelled_other_and_unmatched() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let known_route = r#"http_requests_total{method="other",route="/healthz",status="405"}"#;
    let no_route = r#"http_requests_total{method="other",route="unmatched",status="404"}"#;
    let before = scrape(&app).await;
    for n in 0..50 {
        let method = reqwest::Method::from_bytes(format!("PROBE{n}").as_bytes()).expect("token");
        app.request(method.clone(), "/healthz", None, None)
            .await
            .assert_status(405);
        app.request(method, &format!("/probe-{n}"), None, None)
            .await
            .assert_status(404);
    }
    let after = scrape(&app).await;
    assert!(series(&after, known_route) >= series(&before, known_route) + 50.0);
    assert!(series(&after, no_route) >= series(&before, no_route) + 50.0);
    // A hundred distinct methods and paths made no series of their own.
    assert!(!after.contains("PROBE"), "a method became a label");
    assert!(!after.contains("/probe-"), "a path became a label");
    let methods = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    for line in after
        .lines()
        .filter(|line| line.starts_with("http_request"))
    {
        let method = label(line, "method").expect("a method label");
        assert!(methods.contains(&method), "{line}");
    }
}

#[tokio::test]
async fn sockets_saves_and_rejected_frames_move_their_series() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let before = scrape(&app).await;

    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;
    let during = scrape(&app).await;
    assert!(series(&during, "ws_connections_open") >= 2.0);
    assert!(series(&during, "boards_in_memory") >= 1.0);

    a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "k", "v");
    })
    .await;
    b.wait_for(|c| content_of(&c.state())["map"]["k"] == "v")
        .await;
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;

    let mut hostile = connect(&app.sync_url(&board, &ada.token)).await;
    hostile.send_raw([&[0u8, 2, 5][..], &HAZARD].concat()).await;
    assert_eq!(hostile.ended().await, Ended::Closed(1007));
    // The close is counted as the socket task ends, just after the close frame.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = scrape(&app).await;
        if series(&after, r#"ws_closes_total{code="1007"}"#)
            > series(&before, r#"ws_closes_total{code="1007"}"#)
        {
            break after;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "close never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for name in [
        r#"ws_messages_total{direction="in",type="sync_update"}"#,
        r#"ws_messages_total{direction="out",type="sync_update"}"#,
        r#"ws_messages_total{direction="in",type="sync_step1"}"#,
        r#"ws_frames_rejected_total{reason="hostile"}"#,
        r#"board_saves_total{result="ok"}"#,
        "board_save_bytes_total",
        "board_save_duration_seconds_count",
        "db_pool_wait_seconds_count",
    ] {
        assert!(
            series(&after, name) > series(&before, name),
            "{name} did not move"
        );
    }
}

#[tokio::test]
async fn readiness_follows_the_database_and_shutdown() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ready = app.get("/readyz", None).await;
    ready.assert_status(200);
    assert_eq!(ready.json(), serde_json::json!({ "status": "ready" }));

    // Shutdown starts by failing readiness, before anything else closes.
    app.state.boards.begin_shutdown();
    app.get("/readyz", None)
        .await
        .assert_error(503, "service_unavailable");
    app.get("/healthz", None).await.assert_status(200);
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_unreachable() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    app.get("/readyz", None).await.assert_status(200);
    app.state.db.close();
    app.get("/readyz", None)
        .await
        .assert_error(503, "service_unavailable");
    app.get("/healthz", None).await.assert_status(200);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_an_incoming_one() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let generated = app.get("/healthz", None).await;
    let id = generated.headers["x-request-id"].to_str().expect("ascii");
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}
