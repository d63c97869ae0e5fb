//! The OpenAPI document: the committed `openapi/openapi.json` matches what the
//! router generates, and the document describes the contract's routes.

use std::path::Path;

use serde_json::Value;

use crate::harness::TestApp;

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test --test api openapi";

/// Every route of the contract, as `(method, path)`.
const CONTRACT_ROUTES: [(&str, &str); 27] = [
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/me"),
    ("delete", "/api/v1/me"),
    ("post", "/api/v1/boards"),
    ("get", "/api/v1/boards"),
    ("get", "/api/v1/boards/{id}"),
    ("patch", "/api/v1/boards/{id}"),
    ("delete", "/api/v1/boards/{id}"),
    ("get", "/api/v1/boards/{id}/members"),
    ("put", "/api/v1/boards/{id}/members"),
    ("delete", "/api/v1/boards/{id}/members/{user_id}"),
    ("get", "/api/v1/boards/{id}/state"),
    ("post", "/api/v1/boards/{id}/updates"),
    ("get", "/api/v1/boards/{id}/audit"),
    ("get", "/api/v1/boards/{id}/sync"),
    ("get", "/api/v1/boards/{id}/content"),
    ("get", "/api/v1/boards/{id}/versions"),
    ("post", "/api/v1/boards/{id}/versions"),
    ("get", "/api/v1/boards/{id}/versions/{vid}"),
    ("delete", "/api/v1/boards/{id}/versions/{vid}"),
    ("get", "/api/v1/boards/{id}/versions/{vid}/state"),
    ("get", "/api/v1/boards/{id}/versions/{vid}/content"),
    ("post", "/api/v1/boards/{id}/versions/{vid}/restore"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// The operations that need no token.
const PUBLIC_ROUTES: [(&str, &str); 5] = [
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::to_value(canvas_server::openapi::document()).expect("document serializes")
}

/// Every operation of the document as `(method, path, operation)`.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|operation| ((*method).to_owned(), path.clone(), operation.clone()))
            })
        })
        .collect()
}

#[test]
fn the_committed_openapi_json_matches_the_router() {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&canvas_server::openapi::document())
            .expect("document serializes")
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().expect("openapi/ directory"))
            .expect("create openapi/");
        std::fs::write(&path, &generated).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the router; regenerate it with:\n\n    {REGENERATE}\n",
        path.display()
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/openapi.json", None).await;
    response.assert_status(200);
    assert_eq!(response.json(), document());
}

#[test]
fn the_document_is_openapi_3_1_and_lists_every_contract_route() {
    let document = document();
    let version = document["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "{version}");
    let missing: Vec<String> = CONTRACT_ROUTES
        .iter()
        .filter(|(method, path)| document["paths"][*path][*method].is_null())
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(missing.is_empty(), "routes missing: {missing:?}");
    let extra: Vec<String> = operations(&document)
        .into_iter()
        .filter(|(method, path, _)| {
            !CONTRACT_ROUTES
                .iter()
                .any(|(m, p)| m == method && p == path)
        })
        .map(|(method, path, _)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(extra.is_empty(), "routes not in the contract: {extra:?}");
}

#[test]
fn the_document_declares_the_bearer_security_scheme() {
    let document = document();
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    assert_eq!(scheme["bearerFormat"], "JWT", "{scheme}");
}

#[test]
fn every_protected_operation_declares_bearer_security_and_a_401() {
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document()) {
        let name = format!("{} {path}", method.to_uppercase());
        let public = PUBLIC_ROUTES
            .iter()
            .any(|(m, p)| *m == method && *p == path);
        let security = operation["security"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let requires_bearer = security
            .iter()
            .any(|requirement| requirement.get("bearer").is_some());
        if public {
            if requires_bearer {
                problems.push(format!("{name}: public but declares bearer security"));
            }
            continue;
        }
        if !requires_bearer {
            problems.push(format!("{name}: no bearer security"));
        }
        if operation["responses"]["401"].is_null() {
            problems.push(format!("{name}: no 401 response"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_error_response_uses_the_error_envelope() {
    let document = document();
    assert!(
        document["components"]["schemas"]["ErrorBody"].is_object(),
        "no ErrorBody schema"
    );
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        let responses = operation["responses"].as_object().expect("responses");
        for (status, response) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            if schema != "#/components/schemas/ErrorBody" {
                problems.push(format!(
                    "{} {path} {status}: body is {schema}",
                    method.to_uppercase()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_board_operation_declares_a_404() {
    let mut missing = Vec::new();
    for (method, path, operation) in operations(&document()) {
        if path.starts_with("/api/v1/boards/{id}") && operation["responses"]["404"].is_null() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "no 404 declared: {missing:?}");
}
