//! `/boards/{id}/members`: list, add or change, remove.

use serde_json::{json, Value};

use crate::harness::{backend_test, TestApp, TestUser};

fn members_path(board: &str) -> String {
    format!("/api/v1/boards/{board}/members")
}

async fn members(app: &TestApp, board: &str, user: &TestUser) -> Vec<Value> {
    let response = app.get(&members_path(board), Some(&user.token)).await;
    response.assert_status(200);
    response.json()["items"]
        .as_array()
        .expect("items is an array")
        .clone()
}

/// The `(email, role)` pairs of a member list.
fn roles(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|member| {
            (
                member["email"].as_str().expect("email").to_owned(),
                member["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect()
}

fn pair(email: &str, role: &str) -> (String, String) {
    (email.to_owned(), role.to_owned())
}

backend_test!(the_member_list_includes_the_owner);
async fn the_member_list_includes_the_owner(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    let items = members(&app, &board, &ada).await;
    assert_eq!(
        items,
        [json!({
            "user_id": ada.id,
            "email": "ada@example.com",
            "display_name": "ada",
            "role": "owner",
        })]
    );
}

backend_test!(putting_a_member_adds_them);
async fn putting_a_member_adds_them(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    let response = app
        .put(
            &members_path(&board),
            Some(&ada.token),
            json!({ "email": "bob@example.com", "role": "editor" }),
        )
        .await;
    response.assert_status(200);
    assert_eq!(
        response.json(),
        json!({
            "user_id": bob.id,
            "email": "bob@example.com",
            "display_name": "bob",
            "role": "editor",
        })
    );
    assert_eq!(
        roles(&members(&app, &board, &ada).await),
        [
            pair("ada@example.com", "owner"),
            pair("bob@example.com", "editor")
        ]
    );
    let seen = app
        .get(&format!("/api/v1/boards/{board}"), Some(&bob.token))
        .await;
    seen.assert_status(200);
    assert_eq!(seen.json()["role"], "editor");
}

backend_test!(putting_a_member_finds_the_email_whatever_its_case);
async fn putting_a_member_finds_the_email_whatever_its_case(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    let response = app
        .put(
            &members_path(&board),
            Some(&ada.token),
            json!({ "email": "  BOB@Example.com ", "role": "viewer" }),
        )
        .await;
    response.assert_status(200);
    assert_eq!(response.json()["user_id"], bob.id.as_str());
}

backend_test!(putting_an_existing_member_changes_their_role);
async fn putting_an_existing_member_changes_their_role(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;
    let response = app
        .put(
            &members_path(&board),
            Some(&ada.token),
            json!({ "email": bob.email, "role": "viewer" }),
        )
        .await;
    response.assert_status(200);
    assert_eq!(response.json()["role"], "viewer");
    assert_eq!(response.json()["user_id"], bob.id.as_str());
    assert_eq!(
        roles(&members(&app, &board, &ada).await),
        [
            pair("ada@example.com", "owner"),
            pair("bob@example.com", "viewer")
        ]
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM board_members"),
        2,
        "a role change must not add a row"
    );
}

backend_test!(putting_an_unknown_email_is_not_found);
async fn putting_an_unknown_email_is_not_found(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    app.put(
        &members_path(&board),
        Some(&ada.token),
        json!({ "email": "nobody@example.com", "role": "editor" }),
    )
    .await
    .assert_error(404, "not_found");
}

backend_test!(only_editor_and_viewer_roles_can_be_given);
async fn only_editor_and_viewer_roles_can_be_given(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    for role in ["owner", "admin", "", "EDITOR-ish"] {
        app.put(
            &members_path(&board),
            Some(&ada.token),
            json!({ "email": bob.email, "role": role }),
        )
        .await
        .assert_error(422, "validation_failed");
    }
    assert_eq!(members(&app, &board, &ada).await.len(), 1);
}

backend_test!(the_owner_cannot_be_changed_through_put);
async fn the_owner_cannot_be_changed_through_put(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    for role in ["editor", "viewer"] {
        app.put(
            &members_path(&board),
            Some(&ada.token),
            json!({ "email": ada.email, "role": role }),
        )
        .await
        .assert_error(422, "validation_failed");
    }
    assert_eq!(
        roles(&members(&app, &board, &ada).await),
        [pair("ada@example.com", "owner")]
    );
}

backend_test!(putting_a_member_with_missing_fields_fails_validation);
async fn putting_a_member_with_missing_fields_fails_validation(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    app.put(
        &members_path(&board),
        Some(&ada.token),
        json!({ "email": "bob@example.com" }),
    )
    .await
    .assert_error(422, "validation_failed");
}

backend_test!(removing_a_member_takes_the_board_away_from_them);
async fn removing_a_member_takes_the_board_away_from_them(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;

    let response = app
        .delete(
            &format!("{}/{}", members_path(&board), bob.id),
            Some(&ada.token),
        )
        .await;
    response.assert_status(204);
    assert!(response.bytes.is_empty(), "204 has no body");
    assert_eq!(
        roles(&members(&app, &board, &ada).await),
        [pair("ada@example.com", "owner")]
    );
    app.get(&format!("/api/v1/boards/{board}"), Some(&bob.token))
        .await
        .assert_error(404, "not_found");
    app.get(&members_path(&board), Some(&bob.token))
        .await
        .assert_error(404, "not_found");
    let listed = app.get("/api/v1/boards", Some(&bob.token)).await;
    listed.assert_status(200);
    assert_eq!(listed.json()["total"], 0);
}

backend_test!(removing_someone_who_is_not_a_member_is_not_found);
async fn removing_someone_who_is_not_a_member_is_not_found(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    app.delete(
        &format!("{}/{}", members_path(&board), bob.id),
        Some(&ada.token),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(
        &format!("{}/{}", members_path(&board), uuid::Uuid::new_v4()),
        Some(&ada.token),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(
        &format!("{}/not-a-uuid", members_path(&board)),
        Some(&ada.token),
    )
    .await
    .assert_error(404, "not_found");
}

backend_test!(the_owner_cannot_be_removed);
async fn the_owner_cannot_be_removed(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    app.delete(
        &format!("{}/{}", members_path(&board), ada.id),
        Some(&ada.token),
    )
    .await
    .assert_error(422, "validation_failed");
    app.get(&format!("/api/v1/boards/{board}"), Some(&ada.token))
        .await
        .assert_status(200);
}

backend_test!(a_removed_member_can_be_added_again);
async fn a_removed_member_can_be_added_again(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;
    app.delete(
        &format!("{}/{}", members_path(&board), bob.id),
        Some(&ada.token),
    )
    .await
    .assert_status(204);
    app.share(&board, &ada, &bob, "viewer").await;
    let seen = app
        .get(&format!("/api/v1/boards/{board}"), Some(&bob.token))
        .await;
    seen.assert_status(200);
    assert_eq!(seen.json()["role"], "viewer");
}
