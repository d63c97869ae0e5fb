//! The error envelope where no handler answers (unknown route, wrong method,
//! bad body, malformed id), body limits, and the unauthenticated endpoints.

use reqwest::{header::CONTENT_TYPE, Method};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{backend_test, test_config, yjs_update, Backend, TestApp, TestResponse};

/// Garbage that yrs is slow to reject (see the hazards of untrusted updates).
const HOSTILE_UPDATE: [u8; 5] = [0x86, 0x9a, 0xe2, 0xb6, 0x11];

#[track_caller]
fn assert_json_envelope(response: &TestResponse, status: u16, code: &str) {
    response.assert_error(status, code);
    let content_type = response.headers[CONTENT_TYPE]
        .to_str()
        .expect("ASCII header");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
}

backend_test!(an_unknown_route_is_not_found_in_the_envelope);
async fn an_unknown_route_is_not_found_in_the_envelope(app: TestApp) {
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/boards",
        "/api/v1/boards/x/y/z",
    ] {
        assert_json_envelope(&app.get(path, None).await, 404, "not_found");
    }
    assert_json_envelope(
        &app.post("/api/v1/nope", None, json!({})).await,
        404,
        "not_found",
    );
}

backend_test!(a_malformed_id_is_not_found_in_the_envelope);
async fn a_malformed_id_is_not_found_in_the_envelope(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    for path in [
        "/api/v1/boards/not-a-uuid".to_owned(),
        "/api/v1/boards/12345".to_owned(),
        format!("/api/v1/boards/{board}x"),
        "/api/v1/boards/not-a-uuid/audit".to_owned(),
    ] {
        assert_json_envelope(&app.get(&path, Some(&ada.token)).await, 404, "not_found");
    }
    let member = format!("/api/v1/boards/{board}/members/not-a-uuid");
    assert_json_envelope(
        &app.delete(&member, Some(&ada.token)).await,
        404,
        "not_found",
    );
}

backend_test!(a_wrong_method_is_405_in_the_envelope);
async fn a_wrong_method_is_405_in_the_envelope(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    let cases = [
        (Method::PUT, "/api/v1/boards".to_owned()),
        (Method::DELETE, "/api/v1/boards".to_owned()),
        (Method::GET, "/api/v1/auth/register".to_owned()),
        (Method::POST, "/api/v1/me".to_owned()),
        (Method::POST, format!("/api/v1/boards/{board}")),
        (Method::GET, format!("/api/v1/boards/{board}/updates")),
        (Method::DELETE, "/healthz".to_owned()),
    ];
    for (method, path) in cases {
        let response = app
            .request(method.clone(), &path, Some(&ada.token), None)
            .await;
        assert_eq!(
            response.status.as_u16(),
            405,
            "{method} {path}: {}",
            response.text()
        );
        assert_json_envelope(&response, 405, "method_not_allowed");
        assert!(
            response.headers.contains_key(reqwest::header::ALLOW),
            "{method} {path}: 405 without an Allow header"
        );
    }
}

backend_test!(a_json_body_with_another_content_type_is_415);
async fn a_json_body_with_another_content_type_is_415(app: TestApp) {
    let body = r#"{"email": "ada@example.com", "password": "password123"}"#;
    for content_type in [Some("text/plain"), None] {
        let mut request = app.client.post(app.url("/api/v1/auth/register")).body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let response = app.send(request).await;
        assert_json_envelope(&response, 415, "unsupported_media_type");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);
}

backend_test!(a_json_body_over_64_kib_is_payload_too_large);
async fn a_json_body_over_64_kib_is_payload_too_large(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app
        .post(
            "/api/v1/boards",
            Some(&ada.token),
            json!({ "name": "x".repeat(64 * 1024) }),
        )
        .await;
    assert_json_envelope(&response, 413, "payload_too_large");
    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "bob@example.com", "password": "x".repeat(70 * 1024) }),
        )
        .await;
    assert_json_envelope(&response, 413, "payload_too_large");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM boards"), 0);
}

backend_test!(malformed_json_is_a_bad_request);
async fn malformed_json_is_a_bad_request(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app
        .send(
            app.client
                .post(app.url("/api/v1/boards"))
                .bearer_auth(&ada.token)
                .header(CONTENT_TYPE, "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_json_envelope(&response, 400, "bad_request");
}

backend_test!(an_update_over_max_message_bytes_is_payload_too_large);
async fn an_update_over_max_message_bytes_is_payload_too_large(backend: Backend) {
    let app = backend
        .spawn_with(canvas_server::Config {
            max_message_bytes: 1024,
            ..test_config()
        })
        .await;
    let (ada, board) = app.user_with_board("ada").await;
    let path = format!("/api/v1/boards/{board}/updates");
    let big = yjs_update("k", &"x".repeat(2048));
    assert!(big.len() > 1024);
    let response = app.post_bytes(&path, Some(&ada.token), big).await;
    assert_json_envelope(&response, 413, "payload_too_large");
    // Under the limit is fine.
    let small = yjs_update("k", &"x".repeat(512));
    assert!(small.len() <= 1024);
    app.post_bytes(&path, Some(&ada.token), small)
        .await
        .assert_status(204);
}

backend_test!(an_update_over_max_message_bytes_without_a_declared_length_is_payload_too_large);
async fn an_update_over_max_message_bytes_without_a_declared_length_is_payload_too_large(
    backend: Backend,
) {
    let app = backend
        .spawn_with(canvas_server::Config {
            max_message_bytes: 1024,
            ..test_config()
        })
        .await;
    let (ada, board) = app.user_with_board("ada").await;
    let body = yjs_update("k", &"x".repeat(2048));
    let (status, response) = chunked_post(
        &app,
        &format!("/api/v1/boards/{board}/updates"),
        &ada.token,
        &body,
    )
    .await;
    assert_eq!(status, 413, "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
    let state = app.board_state(&board, &ada).await;
    assert!(crate::harness::yjs_map_entries(&state.bytes).is_empty());
}

backend_test!(an_update_larger_than_the_json_limit_is_accepted_below_max_message_bytes);
async fn an_update_larger_than_the_json_limit_is_accepted_below_max_message_bytes(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    let value = "x".repeat(200 * 1024);
    app.post_update(&board, &ada, yjs_update("k", &value))
        .await
        .assert_status(204);
    let state = app.board_state(&board, &ada).await;
    state.assert_status(200);
    assert_eq!(
        crate::harness::yjs_map_entries(&state.bytes).get("k"),
        Some(&value)
    );
}

backend_test!(an_undecodable_update_is_a_bad_request);
async fn an_undecodable_update_is_a_bad_request(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    let path = format!("/api/v1/boards/{board}/updates");
    let mut truncated = yjs_update("k", "value");
    truncated.truncate(truncated.len() / 2);
    for body in [HOSTILE_UPDATE.to_vec(), truncated, vec![0xff; 32]] {
        let response = app.post_bytes(&path, Some(&ada.token), body.clone()).await;
        assert_eq!(
            response.status.as_u16(),
            400,
            "{body:02x?}: {}",
            response.text()
        );
        assert_json_envelope(&response, 400, "bad_request");
    }
    // The board is unharmed and still takes good updates.
    app.post_bytes(&path, Some(&ada.token), yjs_update("k", "v"))
        .await
        .assert_status(204);
    let state = app.board_state(&board, &ada).await;
    assert_eq!(
        crate::harness::yjs_map_entries(&state.bytes)
            .get("k")
            .map(String::as_str),
        Some("v")
    );
}

backend_test!(an_empty_update_is_accepted);
async fn an_empty_update_is_accepted(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    app.post_update(&board, &ada, vec![0, 0])
        .await
        .assert_status(204);
}

backend_test!(healthz_answers_ok_without_a_token);
async fn healthz_answers_ok_without_a_token(app: TestApp) {
    let response = app.get("/healthz", None).await;
    response.assert_status(200);
    assert_eq!(response.json(), json!({ "status": "ok" }));
}

backend_test!(docs_are_served_as_html);
async fn docs_are_served_as_html(app: TestApp) {
    let response = app.get("/docs", None).await;
    response.assert_status(200);
    let content_type = response.headers[CONTENT_TYPE]
        .to_str()
        .expect("ASCII header");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(!response.bytes.is_empty(), "the docs page is empty");
}

/// The `src` and `href` attribute values of an HTML page.
fn referenced_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=", "href="] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let value = &rest[1..];
            if let Some(end) = value.find(quote) {
                urls.push(value[..end].to_owned());
            }
        }
    }
    urls
}

backend_test!(the_docs_page_loads_only_same_origin_assets_served_from_the_binary);
async fn the_docs_page_loads_only_same_origin_assets_served_from_the_binary(app: TestApp) {
    let page = app.get("/docs/", None).await;
    page.assert_status(200);
    let html = page.text();
    let urls = referenced_urls(&html);
    assert!(
        urls.iter().any(|url| url.ends_with(".js")),
        "the page loads its script: {html}"
    );
    for url in urls {
        let lowered = url.to_ascii_lowercase();
        assert!(
            !lowered.contains("//") && !lowered.contains(':'),
            "{url} is loaded from another origin"
        );
        let path = match url.strip_prefix("./") {
            Some(relative) => format!("/docs/{relative}"),
            None if url.starts_with('/') => url.clone(),
            None => format!("/docs/{url}"),
        };
        let asset = app.get(&path, None).await;
        asset.assert_status(200);
        assert!(!asset.bytes.is_empty(), "{path} is empty");
    }
    // Swagger UI's license ships with it, where its bundle points.
    let bundle = app.get("/docs/swagger-ui-bundle.js", None).await;
    let first_line = bundle.text().lines().next().unwrap_or_default().to_owned();
    assert!(
        first_line.contains("swagger-ui-bundle.js.LICENSE.txt"),
        "{first_line}"
    );
    let license = app
        .get("/docs/swagger-ui-bundle.js.LICENSE.txt", None)
        .await;
    license.assert_status(200);
    assert!(license.text().contains("Apache License"));
    assert!(license.text().contains("SmartBear"));
    // The script that starts the UI reads this server's document.
    let start = app.get("/docs/swagger-initializer.js", None).await;
    start.assert_status(200);
    let script = start.text();
    assert!(script.contains("/api/openapi.json"), "{script}");
    assert!(!script.contains("http://"), "{script}");
    assert!(!script.contains("https://"), "{script}");
}

backend_test!(the_openapi_document_is_served_as_openapi_3_1);
async fn the_openapi_document_is_served_as_openapi_3_1(app: TestApp) {
    let response = app.get("/api/openapi.json", None).await;
    response.assert_status(200);
    let body = response.json();
    let version = body["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "{version}");
    assert!(body["paths"]["/api/v1/boards"].is_object());
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no `Content-Length`) over a
/// raw connection; returns the status and the whole response text.
async fn chunked_post(app: &TestApp, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        app.addr
    );
    let mut request = head.into_bytes();
    for chunk in body.chunks(512) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}
