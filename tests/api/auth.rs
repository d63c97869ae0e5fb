//! `/auth/register`, `/auth/login`, `/me`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use canvas_server::auth::{Claims, JwtKeys};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{backend_test, Backend, TestApp, TestResponse, TEST_JWT_SECRET};

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const ME: &str = "/api/v1/me";

/// Asserts a 401 in the error envelope with `WWW-Authenticate: Bearer`.
#[track_caller]
fn assert_unauthorized(response: &TestResponse) {
    response.assert_error(401, "unauthorized");
    let challenge = response
        .headers
        .get(WWW_AUTHENTICATE)
        .expect("401 carries WWW-Authenticate")
        .to_str()
        .expect("ASCII header");
    assert_eq!(challenge, "Bearer");
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit i64")
}

async fn register(app: &TestApp, body: Value) -> TestResponse {
    app.post(REGISTER, None, body).await
}

/// POSTs `raw` as a JSON body without going through `serde_json`.
async fn post_raw_json(app: &TestApp, path: &str, raw: &'static str) -> TestResponse {
    app.send(
        app.client
            .post(app.url(path))
            .header(CONTENT_TYPE, "application/json")
            .body(raw),
    )
    .await
}

backend_test!(register_returns_a_token_and_the_normalized_user);
async fn register_returns_a_token_and_the_normalized_user(app: TestApp) {
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

backend_test!(register_keeps_an_explicit_display_name_trimmed);
async fn register_keeps_an_explicit_display_name_trimmed(app: TestApp) {
    let response = register(
        &app,
        json!({ "email": "grace@example.com", "password": "password123", "display_name": "  Grace Hopper  " }),
    )
    .await;
    response.assert_status(201);
    let user = &response.json()["user"];
    assert_eq!(user["display_name"], "Grace Hopper");
    assert_eq!(user["email"], "grace@example.com");
    assert!(user["id"]
        .as_str()
        .is_some_and(|id| id.parse::<Uuid>().is_ok()));
    assert!(user["created_at"].is_string());
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
}

backend_test!(registering_a_taken_email_is_a_conflict_whatever_its_case);
async fn registering_a_taken_email_is_a_conflict_whatever_its_case(app: TestApp) {
    app.register("ada").await;
    for email in ["ada@example.com", "ADA@Example.Com", "  ada@example.com  "] {
        register(&app, json!({ "email": email, "password": "password123" }))
            .await
            .assert_error(409, "conflict");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 1);
}

backend_test!(register_rejects_invalid_fields_with_validation_failed);
async fn register_rejects_invalid_fields_with_validation_failed(app: TestApp) {
    let cases = [
        json!({ "email": "not-an-email", "password": "password123" }),
        json!({ "email": "ada@", "password": "password123" }),
        json!({ "email": "@example.com", "password": "password123" }),
        json!({ "email": "a b@example.com", "password": "password123" }),
        json!({ "email": "", "password": "password123" }),
        json!({ "email": "ada@example.com", "password": "1234567" }),
        json!({ "email": "ada@example.com", "password": "" }),
        json!({ "email": "ada@example.com", "password": "password123", "display_name": "" }),
        json!({ "email": "ada@example.com", "password": "password123", "display_name": "   " }),
    ];
    for body in cases {
        let response = register(&app, body.clone()).await;
        assert_eq!(response.status.as_u16(), 422, "{body}: {}", response.text());
        response.assert_error(422, "validation_failed");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);
}

backend_test!(a_password_of_exactly_eight_characters_is_accepted);
async fn a_password_of_exactly_eight_characters_is_accepted(app: TestApp) {
    register(
        &app,
        json!({ "email": "ada@example.com", "password": "12345678" }),
    )
    .await
    .assert_status(201);
}

backend_test!(register_with_malformed_json_is_a_bad_request);
async fn register_with_malformed_json_is_a_bad_request(app: TestApp) {
    post_raw_json(
        &app,
        REGISTER,
        r#"{"email": "ada@example.com", "password": "#,
    )
    .await
    .assert_error(400, "bad_request");
    post_raw_json(&app, LOGIN, "not json")
        .await
        .assert_error(400, "bad_request");
}

backend_test!(register_and_login_with_missing_fields_fail_validation);
async fn register_and_login_with_missing_fields_fail_validation(app: TestApp) {
    register(&app, json!({ "email": "ada@example.com" }))
        .await
        .assert_error(422, "validation_failed");
    register(&app, json!({ "password": "password123" }))
        .await
        .assert_error(422, "validation_failed");
    register(&app, json!({}))
        .await
        .assert_error(422, "validation_failed");
    app.post(LOGIN, None, json!({ "email": "ada@example.com" }))
        .await
        .assert_error(422, "validation_failed");
}

backend_test!(login_returns_a_token_that_works_on_me);
async fn login_returns_a_token_that_works_on_me(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app
        .post(
            LOGIN,
            None,
            json!({ "email": "ada@example.com", "password": "password123" }),
        )
        .await;
    response.assert_status(200);
    let body = response.json();
    assert_eq!(body["user"]["id"], ada.id.as_str());
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["display_name"], "ada");
    let token = body["token"].as_str().expect("token");
    let me = app.get(ME, Some(token)).await;
    me.assert_status(200);
    assert_eq!(me.json()["id"], ada.id.as_str());
}

backend_test!(login_ignores_case_and_surrounding_spaces_in_the_email);
async fn login_ignores_case_and_surrounding_spaces_in_the_email(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app
        .post(
            LOGIN,
            None,
            json!({ "email": "  ADA@example.COM ", "password": "password123" }),
        )
        .await;
    response.assert_status(200);
    assert_eq!(response.json()["user"]["id"], ada.id.as_str());
}

backend_test!(wrong_password_and_unknown_email_get_the_same_401);
async fn wrong_password_and_unknown_email_get_the_same_401(app: TestApp) {
    app.register("ada").await;
    let wrong_password = app
        .post(
            LOGIN,
            None,
            json!({ "email": "ada@example.com", "password": "password124" }),
        )
        .await;
    let unknown_email = app
        .post(
            LOGIN,
            None,
            json!({ "email": "nobody@example.com", "password": "password123" }),
        )
        .await;
    assert_unauthorized(&wrong_password);
    assert_unauthorized(&unknown_email);
    assert_eq!(
        wrong_password.text(),
        unknown_email.text(),
        "the two failures must be indistinguishable"
    );
}

backend_test!(me_returns_the_callers_account);
async fn me_returns_the_callers_account(app: TestApp) {
    let ada = app.register("ada").await;
    let me = app.get(ME, Some(&ada.token)).await;
    me.assert_status(200);
    let body = me.json();
    assert_eq!(body["id"], ada.id.as_str());
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["display_name"], "ada");
    assert!(body["created_at"].is_string());
}

backend_test!(me_without_a_token_is_unauthorized);
async fn me_without_a_token_is_unauthorized(app: TestApp) {
    assert_unauthorized(&app.get(ME, None).await);
}

backend_test!(me_with_a_garbage_token_is_unauthorized);
async fn me_with_a_garbage_token_is_unauthorized(app: TestApp) {
    assert_unauthorized(&app.get(ME, Some("garbage")).await);
    assert_unauthorized(&app.get(ME, Some("not.a.jwt")).await);
    assert_unauthorized(&app.get(ME, Some("")).await);
}

backend_test!(me_with_a_token_signed_by_another_secret_is_unauthorized);
async fn me_with_a_token_signed_by_another_secret_is_unauthorized(app: TestApp) {
    let ada = app.register("ada").await;
    let keys = JwtKeys::new(b"another-secret", Duration::from_secs(3600));
    let forged = keys
        .issue(ada.id.parse().expect("uuid"))
        .expect("token signs");
    assert_unauthorized(&app.get(ME, Some(&forged)).await);
}

backend_test!(me_with_an_expired_token_is_unauthorized);
async fn me_with_an_expired_token_is_unauthorized(app: TestApp) {
    let ada = app.register("ada").await;
    let keys = JwtKeys::new(TEST_JWT_SECRET.as_bytes(), Duration::from_secs(3600));
    let now = unix_now();
    let sub = ada.id.parse().expect("uuid");
    let expired = keys
        .sign(&Claims {
            sub,
            iat: now - 120,
            exp: now - 60,
        })
        .expect("token signs");
    assert_unauthorized(&app.get(ME, Some(&expired)).await);
    // The same claims, still valid, are accepted: only the expiry was wrong.
    let valid = keys
        .sign(&Claims {
            sub,
            iat: now - 120,
            exp: now + 600,
        })
        .expect("token signs");
    app.get(ME, Some(&valid)).await.assert_status(200);
}

backend_test!(me_with_basic_authorization_is_unauthorized);
async fn me_with_basic_authorization_is_unauthorized(app: TestApp) {
    let response = app
        .send(
            app.client
                .get(app.url(ME))
                .header(AUTHORIZATION, "Basic YWRhQGV4YW1wbGUuY29tOnBhc3N3b3JkMTIz"),
        )
        .await;
    assert_unauthorized(&response);
}

backend_test!(the_bearer_scheme_name_is_case_insensitive);
async fn the_bearer_scheme_name_is_case_insensitive(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app
        .send(
            app.client
                .get(app.url(ME))
                .header(AUTHORIZATION, format!("bearer {}", ada.token)),
        )
        .await;
    response.assert_status(200);
}

backend_test!(deleting_my_account_revokes_its_token_and_its_login);
async fn deleting_my_account_revokes_its_token_and_its_login(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app.delete(ME, Some(&ada.token)).await;
    response.assert_status(204);
    assert!(response.bytes.is_empty(), "204 has no body");
    assert_unauthorized(&app.get(ME, Some(&ada.token)).await);
    assert_unauthorized(&app.delete(ME, Some(&ada.token)).await);
    assert_unauthorized(
        &app.post(
            LOGIN,
            None,
            json!({ "email": "ada@example.com", "password": "password123" }),
        )
        .await,
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);
}

backend_test!(a_deleted_accounts_email_can_register_again);
async fn a_deleted_accounts_email_can_register_again(app: TestApp) {
    let first = app.register("ada").await;
    app.delete(ME, Some(&first.token)).await.assert_status(204);
    let second = app.register("ada").await;
    assert_ne!(first.id, second.id);
    assert_unauthorized(&app.get(ME, Some(&first.token)).await);
    app.get(ME, Some(&second.token)).await.assert_status(200);
}

backend_test!(issued_tokens_carry_sub_iat_and_exp_for_the_configured_lifetime);
async fn issued_tokens_carry_sub_iat_and_exp_for_the_configured_lifetime(backend: Backend) {
    let app = backend
        .spawn_with(canvas_server::Config {
            token_ttl: Duration::from_secs(600),
            ..crate::harness::test_config()
        })
        .await;
    let ada = app.register("ada").await;
    let keys = JwtKeys::new(TEST_JWT_SECRET.as_bytes(), Duration::from_secs(600));
    let claims = keys
        .verify(&ada.token)
        .expect("an HS256 token of the secret");
    assert_eq!(claims.sub.to_string(), ada.id);
    assert_eq!(claims.exp - claims.iat, 600);
    assert!((claims.iat - unix_now()).abs() < 60, "iat is now");
}

backend_test!(me_with_a_token_of_another_algorithm_is_unauthorized);
async fn me_with_a_token_of_another_algorithm_is_unauthorized(app: TestApp) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let ada = app.register("ada").await;
    let now = unix_now();
    let claims = Claims {
        sub: ada.id.parse().expect("uuid"),
        iat: now,
        exp: now + 600,
    };
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("token signs");
    assert_unauthorized(&app.get(ME, Some(&hs512)).await);
}

backend_test!(a_full_width_look_alike_email_is_the_existing_account);
async fn a_full_width_look_alike_email_is_the_existing_account(app: TestApp) {
    register(
        &app,
        json!({ "email": "owner@x.io", "password": "password123" }),
    )
    .await
    .assert_status(201);
    // `ｏ` is U+FF4F FULLWIDTH LATIN SMALL LETTER O: NFKC makes it `o`.
    register(
        &app,
        json!({ "email": "\u{FF4F}wner@x.io", "password": "password123" }),
    )
    .await
    .assert_error(409, "conflict");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 1);
    let login = app
        .post(
            LOGIN,
            None,
            json!({ "email": "\u{FF4F}WNER@x.io", "password": "password123" }),
        )
        .await;
    login.assert_status(200);
    assert_eq!(login.json()["user"]["email"], "owner@x.io");
}

backend_test!(an_email_with_an_invisible_character_is_refused);
async fn an_email_with_an_invisible_character_is_refused(app: TestApp) {
    register(
        &app,
        json!({ "email": "owner@x.io", "password": "password123" }),
    )
    .await
    .assert_status(201);
    for email in [
        "own\u{200B}er@x.io",
        "\u{FEFF}owner@x.io",
        "own\u{2060}er@x.io",
    ] {
        let response = register(&app, json!({ "email": email, "password": "password123" })).await;
        response.assert_error(422, "validation_failed");
        let message = response.json()["error"]["message"].to_string();
        assert!(message.contains("email"), "{message}");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 1);
}

backend_test!(a_display_name_of_invisible_characters_only_is_refused);
async fn a_display_name_of_invisible_characters_only_is_refused(app: TestApp) {
    for name in ["\u{200B}", "\u{FEFF}", "\u{200B} \u{FEFF}"] {
        register(
            &app,
            json!({ "email": "ada@example.com", "password": "password123", "display_name": name }),
        )
        .await
        .assert_error(422, "validation_failed");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);
}

backend_test!(a_body_of_the_wrong_shape_gets_a_422_naming_no_rust_type);
async fn a_body_of_the_wrong_shape_gets_a_422_naming_no_rust_type(app: TestApp) {
    let cases = [
        ("[]", "body must be a JSON object"),
        ("\"ada@example.com\"", "body must be a JSON object"),
        (r#"{"password": "password123"}"#, "missing field `email`"),
        (
            r#"{"email": 5, "password": "password123"}"#,
            "email: invalid type: integer `5`, expected a string",
        ),
    ];
    for (body, expected) in cases {
        let response = post_raw_json(&app, REGISTER, body).await;
        response.assert_error(422, "validation_failed");
        let message = response.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_owned();
        assert_eq!(message, expected, "{body}");
        assert!(!message.contains("RegisterRequest"), "{message}");
    }
    let response = post_raw_json(&app, LOGIN, "[1]").await;
    response.assert_error(422, "validation_failed");
    assert_eq!(
        response.json()["error"]["message"],
        "body must be a JSON object"
    );
}
