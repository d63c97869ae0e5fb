//! The web app (`WEB_UI`): the page at `/` and `/b/{board_id}` with its
//! Content-Security-Policy, the assets under `/assets/` with their types and
//! validators, and `WEB_UI=off`, which leaves only the API.

use reqwest::{
    header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH},
    Method, StatusCode,
};
use serde_json::json;

use crate::harness::{test_config, TestApp, TestResponse};

fn header(response: &TestResponse, name: reqwest::header::HeaderName) -> &str {
    response
        .headers
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII header")
}

/// The directives of a policy, by name.
fn directive<'a>(policy: &'a str, name: &str) -> Option<&'a str> {
    policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .map(str::trim)
}

#[track_caller]
fn assert_app_page(response: &TestResponse) {
    response.assert_status(200);
    assert!(header(response, CONTENT_TYPE).starts_with("text/html"));
    let html = response.text();
    assert!(html.contains(r#"<div id="app">"#), "{html}");
    assert!(html.contains(r#"src="/assets/app.js""#), "{html}");
    assert!(html.contains(r#"href="/assets/app.css""#), "{html}");
    let policy = header(response, CONTENT_SECURITY_POLICY);
    assert_eq!(directive(policy, "default-src"), Some("'self'"), "{policy}");
    assert_eq!(directive(policy, "script-src"), Some("'self'"), "{policy}");
    assert_eq!(directive(policy, "style-src"), Some("'self'"), "{policy}");
    assert_eq!(directive(policy, "object-src"), Some("'none'"), "{policy}");
    assert_eq!(
        directive(policy, "frame-ancestors"),
        Some("'none'"),
        "{policy}"
    );
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    let connect = directive(policy, "connect-src").expect("connect-src");
    assert!(connect.starts_with("'self'"), "{policy}");
}

#[tokio::test]
async fn the_root_serves_the_web_app_with_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;
    assert_app_page(&app.get("/", None).await);
}

#[tokio::test]
async fn a_board_path_serves_the_same_page() {
    let app = TestApp::spawn().await;
    let root = app.get("/", None).await;
    let board = app
        .get("/b/0190b7a4-7c3e-7b8e-9c1d-2f3a4b5c6d7e", None)
        .await;
    assert_app_page(&board);
    assert_eq!(board.bytes, root.bytes);
    // Deeper paths are not the app's.
    app.get("/b/x/y", None).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn the_page_refers_only_to_assets_of_this_server() {
    let app = TestApp::spawn().await;
    let html = app.get("/", None).await.text();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let url = &rest[..rest.find('"').expect("closing quote")];
            assert!(url.starts_with("/assets/"), "{url} is not a local asset");
            app.get(url, None).await.assert_status(200);
        }
    }
}

#[tokio::test]
async fn assets_have_their_content_types_and_revalidate_by_etag() {
    let app = TestApp::spawn().await;
    for (path, content_type) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
        ("/assets/THIRD_PARTY_LICENSES.txt", "text/plain"),
    ] {
        let response = app.get(path, None).await;
        response.assert_status(200);
        assert!(
            header(&response, CONTENT_TYPE).starts_with(content_type),
            "{path}: {}",
            header(&response, CONTENT_TYPE)
        );
        assert!(!response.bytes.is_empty(), "{path} is empty");
        assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(
            header(&response, reqwest::header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );

        let etag = header(&response, ETAG).to_owned();
        let again = app
            .send(app.client.get(app.url(path)).header(IF_NONE_MATCH, &etag))
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes.is_empty());
        let stale = app
            .send(
                app.client
                    .get(app.url(path))
                    .header(IF_NONE_MATCH, "\"other\""),
            )
            .await;
        stale.assert_status(200);
    }
    app.get("/assets/missing.js", None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn the_third_party_licenses_name_every_bundled_package() {
    let app = TestApp::spawn().await;
    let licenses = app
        .get("/assets/THIRD_PARTY_LICENSES.txt", None)
        .await
        .text();
    for package in [
        "yjs ",
        "lib0 ",
        "y-protocols ",
        "y-websocket ",
        "openapi-fetch ",
    ] {
        assert!(licenses.contains(package), "{package} missing");
    }
    assert!(licenses.contains("Permission is hereby granted"));
    let script = app.get("/assets/app.js", None).await.text();
    assert!(
        script.contains("/assets/THIRD_PARTY_LICENSES.txt"),
        "the bundle points to its notices"
    );
}

#[tokio::test]
async fn with_the_web_ui_off_the_root_is_not_found_and_the_api_is_unaffected() {
    let app = TestApp::spawn_with(canvas_server::Config {
        web_ui: false,
        ..test_config()
    })
    .await;
    for path in [
        "/",
        "/b/0190b7a4-7c3e-7b8e-9c1d-2f3a4b5c6d7e",
        "/assets/app.js",
    ] {
        app.get(path, None).await.assert_error(404, "not_found");
    }
    app.get("/healthz", None).await.assert_status(200);
    app.get("/docs/", None).await.assert_status(200);
    app.get("/api/openapi.json", None).await.assert_status(200);
    let user = app.register("ada").await;
    app.post("/api/v1/boards", Some(&user.token), json!({ "name": "b" }))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn with_the_web_ui_on_the_api_docs_and_errors_are_unchanged() {
    let app = TestApp::spawn().await;
    app.get("/healthz", None).await.assert_status(200);
    app.get("/docs/", None).await.assert_status(200);
    let spec = app.get("/api/openapi.json", None).await.json();
    let paths = spec["paths"].as_object().expect("paths");
    assert!(
        paths
            .keys()
            .all(|path| path.starts_with("/api/") || path.ends_with("z") || path == "/metrics"),
        "the web app's routes stay out of the API document: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    app.get("/api/v1/boards", None)
        .await
        .assert_error(401, "unauthorized");
    app.get("/nope", None).await.assert_error(404, "not_found");
    // The page is for reading only.
    let post = app.request(Method::POST, "/", None, Some(json!({}))).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}
