//! `GET /boards/{id}/audit`: who changed what on a board.

use serde_json::{json, Value};

use crate::harness::{backend_test, Backend, Given, TestApp, TestUser};

fn audit_path(board: &str, query: &str) -> String {
    format!("/api/v1/boards/{board}/audit{query}")
}

async fn audit(app: &TestApp, board: &str, user: &TestUser, query: &str) -> Value {
    let response = app.get(&audit_path(board, query), Some(&user.token)).await;
    response.assert_status(200);
    response.json()
}

fn actions(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .map(|entry| entry["action"].as_str().expect("action"))
        .collect()
}

/// A board by `ada` that went through every audited change: created, renamed,
/// `bob` added as editor, changed to viewer, removed.
struct History {
    app: TestApp,
    ada: TestUser,
    bob: TestUser,
    board: String,
}

impl Given for History {
    async fn given(backend: Backend) -> Option<Self> {
        let app = backend.spawn().await;
        let ada = app.register("ada").await;
        let bob = app.register("bob").await;
        let board = app.create_board(&ada, "Plan").await;
        app.patch(
            &format!("/api/v1/boards/{board}"),
            Some(&ada.token),
            json!({ "name": "Roadmap" }),
        )
        .await
        .assert_status(200);
        app.share(&board, &ada, &bob, "editor").await;
        app.share(&board, &ada, &bob, "viewer").await;
        app.delete(
            &format!("/api/v1/boards/{board}/members/{}", bob.id),
            Some(&ada.token),
        )
        .await
        .assert_status(204);
        Some(History {
            app,
            ada,
            bob,
            board,
        })
    }
}

backend_test!(every_change_is_recorded_newest_first_with_its_actor);
async fn every_change_is_recorded_newest_first_with_its_actor(history: History) {
    let History {
        app,
        ada,
        bob,
        board,
    } = history;
    let page = audit(&app, &board, &ada, "").await;
    assert_eq!(page["total"], 5);
    assert_eq!(
        actions(&page),
        [
            "member.removed",
            "member.role_changed",
            "member.added",
            "board.renamed",
            "board.created",
        ]
    );
    let items = page["items"].as_array().expect("items");
    for entry in items {
        assert_eq!(entry["actor_id"], ada.id.as_str(), "{entry}");
        assert!(
            entry["id"].is_string() && entry["created_at"].is_string(),
            "{entry}"
        );
        let keys: Vec<&str> = entry
            .as_object()
            .expect("entry is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{entry}");
    }
    let created_at: Vec<_> = items
        .iter()
        .map(|entry| {
            let at = entry["created_at"].as_str().expect("created_at");
            chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339 timestamp")
        })
        .collect();
    let mut sorted = created_at.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(created_at, sorted, "newest first");

    assert_eq!(
        items[3]["detail"],
        json!({ "from": "Plan", "to": "Roadmap" })
    );
    for entry in &items[0..3] {
        assert_eq!(entry["detail"]["user_id"], bob.id.as_str(), "{entry}");
    }
}

backend_test!(renames_record_the_old_and_new_name);
async fn renames_record_the_old_and_new_name(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "One").await;
    app.share(&board, &ada, &bob, "editor").await;
    app.patch(
        &format!("/api/v1/boards/{board}"),
        Some(&bob.token),
        json!({ "name": "Two" }),
    )
    .await
    .assert_status(200);
    let page = audit(&app, &board, &ada, "?limit=1").await;
    let entry = &page["items"][0];
    assert_eq!(entry["action"], "board.renamed");
    assert_eq!(entry["actor_id"], bob.id.as_str(), "the editor renamed it");
    assert_eq!(entry["detail"], json!({ "from": "One", "to": "Two" }));
}

backend_test!(the_audit_log_pages_with_limit_and_offset);
async fn the_audit_log_pages_with_limit_and_offset(history: History) {
    let History {
        app, ada, board, ..
    } = history;
    let page = audit(&app, &board, &ada, "?limit=2").await;
    assert_eq!(page["total"], 5);
    assert_eq!(actions(&page), ["member.removed", "member.role_changed"]);
    let page = audit(&app, &board, &ada, "?limit=2&offset=2").await;
    assert_eq!(page["total"], 5);
    assert_eq!(actions(&page), ["member.added", "board.renamed"]);
    let page = audit(&app, &board, &ada, "?limit=2&offset=4").await;
    assert_eq!(actions(&page), ["board.created"]);
    let page = audit(&app, &board, &ada, "?offset=5").await;
    assert_eq!(page["total"], 5);
    assert!(actions(&page).is_empty());
}

backend_test!(out_of_range_audit_paging_fails_validation);
async fn out_of_range_audit_paging_fails_validation(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    for query in ["?limit=0", "?limit=101", "?offset=-1"] {
        app.get(&audit_path(&board, query), Some(&ada.token))
            .await
            .assert_error(422, "validation_failed");
    }
    app.get(&audit_path(&board, "?limit=abc"), Some(&ada.token))
        .await
        .assert_error(400, "bad_request");
}

backend_test!(viewers_can_read_the_audit_log);
async fn viewers_can_read_the_audit_log(app: TestApp) {
    let ada = app.register("ada").await;
    let cy = app.register("cy").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &cy, "viewer").await;
    let page = audit(&app, &board, &cy, "").await;
    assert_eq!(page["total"], 2);
    assert_eq!(actions(&page), ["member.added", "board.created"]);
    assert_eq!(
        page["items"][0]["detail"],
        json!({ "user_id": cy.id, "role": "viewer" })
    );
}

backend_test!(the_audit_log_is_per_board);
async fn the_audit_log_is_per_board(app: TestApp) {
    let ada = app.register("ada").await;
    let one = app.create_board(&ada, "One").await;
    let two = app.create_board(&ada, "Two").await;
    app.patch(
        &format!("/api/v1/boards/{one}"),
        Some(&ada.token),
        json!({ "name": "One!" }),
    )
    .await
    .assert_status(200);
    assert_eq!(audit(&app, &one, &ada, "").await["total"], 2);
    let page = audit(&app, &two, &ada, "").await;
    assert_eq!(page["total"], 1);
    assert_eq!(actions(&page), ["board.created"]);
}
