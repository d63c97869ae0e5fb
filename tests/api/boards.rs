//! `/boards` and `/boards/{id}`: create, list, read, rename, delete.

use serde_json::{json, Value};

use crate::harness::{backend_test, TestApp, TestUser};

const BOARDS: &str = "/api/v1/boards";

fn board_path(id: &str) -> String {
    format!("{BOARDS}/{id}")
}

/// The ids of a board list, in the order given.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .map(|board| board["id"].as_str().expect("board id").to_owned())
        .collect()
}

async fn list(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let response = app
        .get(&format!("{BOARDS}{query}"), Some(&user.token))
        .await;
    response.assert_status(200);
    response.json()
}

backend_test!(creating_a_board_makes_the_caller_its_owner);
async fn creating_a_board_makes_the_caller_its_owner(app: TestApp) {
    let ada = app.register("ada").await;
    let response = app
        .post(
            BOARDS,
            Some(&ada.token),
            json!({ "name": "  Sprint planning  " }),
        )
        .await;
    response.assert_status(201);
    let board = response.json();
    assert_eq!(board["name"], "Sprint planning");
    assert_eq!(board["role"], "owner");
    assert_eq!(board["owner_id"], ada.id.as_str());
    assert!(board["id"].is_string());
    assert!(board["created_at"].is_string());
    assert_eq!(board["created_at"], board["updated_at"]);
}

backend_test!(board_names_must_be_1_to_200_characters_after_trimming);
async fn board_names_must_be_1_to_200_characters_after_trimming(app: TestApp) {
    let ada = app.register("ada").await;
    for name in [String::new(), "   ".to_owned(), "x".repeat(201)] {
        app.post(BOARDS, Some(&ada.token), json!({ "name": name }))
            .await
            .assert_error(422, "validation_failed");
    }
    let longest = "é".repeat(200);
    let response = app
        .post(BOARDS, Some(&ada.token), json!({ "name": longest }))
        .await;
    response.assert_status(201);
    assert_eq!(response.json()["name"], longest.as_str());
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM boards"), 1);
}

backend_test!(creating_a_board_without_a_name_fails_validation);
async fn creating_a_board_without_a_name_fails_validation(app: TestApp) {
    let ada = app.register("ada").await;
    app.post(BOARDS, Some(&ada.token), json!({}))
        .await
        .assert_error(422, "validation_failed");
    app.post(BOARDS, Some(&ada.token), json!({ "name": 7 }))
        .await
        .assert_error(422, "validation_failed");
}

backend_test!(board_routes_need_a_token);
async fn board_routes_need_a_token(app: TestApp) {
    let (_, board) = app.user_with_board("ada").await;
    app.get(BOARDS, None)
        .await
        .assert_error(401, "unauthorized");
    app.post(BOARDS, None, json!({ "name": "x" }))
        .await
        .assert_error(401, "unauthorized");
    app.get(&board_path(&board), None)
        .await
        .assert_error(401, "unauthorized");
}

backend_test!(the_list_holds_only_boards_owned_by_or_shared_with_the_caller);
async fn the_list_holds_only_boards_owned_by_or_shared_with_the_caller(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cy = app.register("cy").await;
    let own = app.create_board(&ada, "Ada's").await;
    let shared_to_edit = app.create_board(&bob, "Bob's shared").await;
    let shared_to_view = app.create_board(&cy, "Cy's shared").await;
    let _private = app.create_board(&bob, "Bob's private").await;
    app.share(&shared_to_edit, &bob, &ada, "editor").await;
    app.share(&shared_to_view, &cy, &ada, "viewer").await;

    let body = list(&app, &ada, "").await;
    assert_eq!(body["total"], 3);
    let items = body["items"].as_array().expect("items");
    let role_of = |id: &str| {
        items
            .iter()
            .find(|board| board["id"] == id)
            .map(|board| board["role"].clone())
    };
    assert_eq!(role_of(&own), Some(json!("owner")));
    assert_eq!(role_of(&shared_to_edit), Some(json!("editor")));
    assert_eq!(role_of(&shared_to_view), Some(json!("viewer")));
    assert_eq!(items.len(), 3);

    let bobs = list(&app, &bob, "").await;
    assert_eq!(bobs["total"], 2);
}

backend_test!(the_list_is_newest_updated_first_and_a_rename_moves_a_board_to_the_front);
async fn the_list_is_newest_updated_first_and_a_rename_moves_a_board_to_the_front(app: TestApp) {
    let ada = app.register("ada").await;
    let first = app.create_board(&ada, "first").await;
    let second = app.create_board(&ada, "second").await;
    let third = app.create_board(&ada, "third").await;
    assert_eq!(
        ids(&list(&app, &ada, "").await),
        [third.clone(), second.clone(), first.clone()]
    );

    let renamed = app
        .patch(
            &board_path(&first),
            Some(&ada.token),
            json!({ "name": "first, renamed" }),
        )
        .await;
    renamed.assert_status(200);
    assert_eq!(ids(&list(&app, &ada, "").await), [first, third, second]);
    let items = list(&app, &ada, "").await;
    assert_eq!(items["items"][0]["name"], "first, renamed");
    assert_eq!(
        items["items"][0]["updated_at"],
        renamed.json()["updated_at"]
    );
}

backend_test!(saved_content_changes_move_a_board_to_the_front);
async fn saved_content_changes_move_a_board_to_the_front(app: TestApp) {
    let ada = app.register("ada").await;
    let older = app.create_board(&ada, "older").await;
    let newer = app.create_board(&ada, "newer").await;
    assert_eq!(
        ids(&list(&app, &ada, "").await),
        [newer.clone(), older.clone()]
    );
    app.post_bytes(
        &format!("{}/updates", board_path(&older)),
        Some(&ada.token),
        crate::harness::yjs_update("k", "v"),
    )
    .await
    .assert_status(204);
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;
    assert_eq!(ids(&list(&app, &ada, "").await), [older, newer]);
}

backend_test!(the_list_pages_with_limit_and_offset);
async fn the_list_pages_with_limit_and_offset(app: TestApp) {
    let ada = app.register("ada").await;
    let mut created = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        created.push(app.create_board(&ada, name).await);
    }
    created.reverse(); // newest first

    let page = list(&app, &ada, "?limit=2").await;
    assert_eq!(page["total"], 5);
    assert_eq!(ids(&page), created[0..2]);
    let page = list(&app, &ada, "?limit=2&offset=2").await;
    assert_eq!(page["total"], 5);
    assert_eq!(ids(&page), created[2..4]);
    let page = list(&app, &ada, "?limit=2&offset=4").await;
    assert_eq!(ids(&page), created[4..5]);
    let page = list(&app, &ada, "?offset=5").await;
    assert_eq!(page["total"], 5);
    assert!(ids(&page).is_empty());
    let page = list(&app, &ada, "?limit=100").await;
    assert_eq!(ids(&page), created);
    let page = list(&app, &ada, "?limit=1").await;
    assert_eq!(ids(&page), created[0..1]);
}

backend_test!(the_list_defaults_to_fifty_boards);
async fn the_list_defaults_to_fifty_boards(app: TestApp) {
    let ada = app.register("ada").await;
    for n in 0..51 {
        app.create_board(&ada, &format!("board {n}")).await;
    }
    let page = list(&app, &ada, "").await;
    assert_eq!(page["total"], 51);
    assert_eq!(ids(&page).len(), 50);
}

backend_test!(out_of_range_paging_fails_validation);
async fn out_of_range_paging_fails_validation(app: TestApp) {
    let ada = app.register("ada").await;
    for query in ["?limit=0", "?limit=101", "?limit=-1", "?offset=-1"] {
        app.get(&format!("{BOARDS}{query}"), Some(&ada.token))
            .await
            .assert_error(422, "validation_failed");
    }
}

backend_test!(unparsable_paging_is_a_bad_request);
async fn unparsable_paging_is_a_bad_request(app: TestApp) {
    let ada = app.register("ada").await;
    for query in ["?limit=abc", "?offset=1.5"] {
        app.get(&format!("{BOARDS}{query}"), Some(&ada.token))
            .await
            .assert_error(400, "bad_request");
    }
}

backend_test!(getting_a_board_shows_the_callers_role);
async fn getting_a_board_shows_the_callers_role(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cy = app.register("cy").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;
    app.share(&board, &ada, &cy, "viewer").await;
    for (user, role) in [(&ada, "owner"), (&bob, "editor"), (&cy, "viewer")] {
        let response = app.get(&board_path(&board), Some(&user.token)).await;
        response.assert_status(200);
        let body = response.json();
        assert_eq!(body["id"], board.as_str());
        assert_eq!(body["name"], "Plan");
        assert_eq!(body["owner_id"], ada.id.as_str());
        assert_eq!(body["role"], role);
    }
}

backend_test!(owner_and_editor_can_rename_a_board);
async fn owner_and_editor_can_rename_a_board(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;

    let by_owner = app
        .patch(
            &board_path(&board),
            Some(&ada.token),
            json!({ "name": " Roadmap " }),
        )
        .await;
    by_owner.assert_status(200);
    assert_eq!(by_owner.json()["name"], "Roadmap");
    assert_eq!(by_owner.json()["role"], "owner");

    let by_editor = app
        .patch(
            &board_path(&board),
            Some(&bob.token),
            json!({ "name": "Roadmap 2" }),
        )
        .await;
    by_editor.assert_status(200);
    let body = by_editor.json();
    assert_eq!(body["name"], "Roadmap 2");
    assert_eq!(body["role"], "editor");
    assert_eq!(body["owner_id"], ada.id.as_str());

    let seen = app.get(&board_path(&board), Some(&ada.token)).await.json();
    assert_eq!(seen["name"], "Roadmap 2");
}

backend_test!(renaming_to_an_invalid_name_fails_validation_and_keeps_the_old_one);
async fn renaming_to_an_invalid_name_fails_validation_and_keeps_the_old_one(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    for name in [String::new(), " ".to_owned(), "x".repeat(201)] {
        app.patch(
            &board_path(&board),
            Some(&ada.token),
            json!({ "name": name }),
        )
        .await
        .assert_error(422, "validation_failed");
    }
    let seen = app.get(&board_path(&board), Some(&ada.token)).await.json();
    assert_eq!(seen["name"], "Plan");
}

backend_test!(a_deleted_board_is_gone);
async fn a_deleted_board_is_gone(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    let response = app.delete(&board_path(&board), Some(&ada.token)).await;
    response.assert_status(204);
    assert!(response.bytes.is_empty(), "204 has no body");
    app.get(&board_path(&board), Some(&ada.token))
        .await
        .assert_error(404, "not_found");
    app.delete(&board_path(&board), Some(&ada.token))
        .await
        .assert_error(404, "not_found");
    let body = list(&app, &ada, "").await;
    assert_eq!(body["total"], 0);
    assert!(ids(&body).is_empty());
}

backend_test!(deleting_a_board_removes_its_members_audit_and_state);
async fn deleting_a_board_removes_its_members_audit_and_state(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;
    app.post_bytes(
        &format!("{}/updates", board_path(&board)),
        Some(&ada.token),
        crate::harness::yjs_update("k", "v"),
    )
    .await
    .assert_status(204);
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;

    app.delete(&board_path(&board), Some(&ada.token))
        .await
        .assert_status(204);
    for table in ["boards", "board_members", "board_states", "audit_logs"] {
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) AS n FROM {table}")),
            0,
            "{table} still has rows"
        );
    }
    assert_eq!(list(&app, &bob, "").await["total"], 0);
}

backend_test!(a_board_name_of_invisible_characters_only_is_refused);
async fn a_board_name_of_invisible_characters_only_is_refused(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    for name in ["\u{200B}", "\u{FEFF}", " \u{200B}\u{FEFF}\u{200B} "] {
        app.post(BOARDS, Some(&ada.token), json!({ "name": name }))
            .await
            .assert_error(422, "validation_failed");
        app.patch(
            &format!("{BOARDS}/{board}"),
            Some(&ada.token),
            json!({ "name": name }),
        )
        .await
        .assert_error(422, "validation_failed");
    }
    let kept = app
        .get(&format!("{BOARDS}/{board}"), Some(&ada.token))
        .await;
    assert_eq!(kept.json()["name"], "Plan");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM boards"), 1);
}
