//! `/auth/register`, `/auth/login`, `/me`.

use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn register_returns_a_token_and_the_normalized_user() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "  Ada@Example.COM ", "password": "password123" }),
        )
        .await;
    response.assert_status(201);
    let body = response.json();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["display_name"], "ada");
    let token = body["token"].as_str().expect("token");
    let me = app.get("/api/v1/me", Some(token)).await;
    me.assert_status(200);
    assert_eq!(me.json()["id"], body["user"]["id"]);
}
