//! One pass through the REST contract as a client reads it: two accounts, a
//! board created, shared, renamed, listed and deleted, with exact statuses and
//! exact body shapes.

use serde_json::{json, Value};

use crate::harness::{backend_test, TestApp};

/// Asserts that `value` is an object with exactly these keys.
#[track_caller]
fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value.as_object().expect("an object");
    let mut actual: Vec<&str> = object.keys().map(String::as_str).collect();
    actual.sort_unstable();
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(actual, expected, "{value}");
}

/// Asserts that `value` is a canonical lowercase UUID string.
#[track_caller]
fn assert_uuid(value: &Value) -> String {
    let text = value.as_str().expect("id is a string");
    let parsed: uuid::Uuid = text.parse().expect("id is a UUID");
    assert_eq!(parsed.to_string(), text, "id is canonical lowercase");
    text.to_owned()
}

#[track_caller]
fn assert_timestamp(value: &Value) {
    let text = value.as_str().expect("timestamp is a string");
    chrono::DateTime::parse_from_rfc3339(text).expect("timestamp is RFC 3339");
}

const USER: &[&str] = &["id", "email", "display_name", "created_at"];
const BOARD: &[&str] = &["id", "name", "owner_id", "role", "created_at", "updated_at"];
const MEMBER: &[&str] = &["user_id", "email", "display_name", "role"];
const AUDIT_ENTRY: &[&str] = &["id", "actor_id", "action", "detail", "created_at"];

backend_test!(register_create_share_rename_list_delete);
async fn register_create_share_rename_list_delete(app: TestApp) {
    // Two accounts: one names itself, one takes the default display name.
    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": " Ada@Example.com", "password": "correct horse", "display_name": "Ada" }),
        )
        .await;
    response.assert_status(201);
    let body = response.json();
    assert_keys(&body, &["token", "user"]);
    assert_keys(&body["user"], USER);
    let ada_id = assert_uuid(&body["user"]["id"]);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["display_name"], "Ada");
    assert_timestamp(&body["user"]["created_at"]);
    let ada_user = body["user"].clone();
    let ada = body["token"].as_str().expect("token").to_owned();

    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "bob@example.com", "password": "hunter2hunter2" }),
        )
        .await;
    response.assert_status(201);
    let body = response.json();
    let bob_id = assert_uuid(&body["user"]["id"]);
    assert_eq!(body["user"]["display_name"], "bob");

    // Bob logs in rather than keeping the registration token.
    let response = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "bob@example.com", "password": "hunter2hunter2" }),
        )
        .await;
    response.assert_status(200);
    let body = response.json();
    assert_keys(&body, &["token", "user"]);
    assert_eq!(body["user"]["id"], bob_id.as_str());
    let bob = body["token"].as_str().expect("token").to_owned();

    let response = app.get("/api/v1/me", Some(&ada)).await;
    response.assert_status(200);
    assert_keys(&response.json(), USER);
    assert_eq!(response.json(), ada_user);

    // Ada creates a board.
    let response = app
        .post(
            "/api/v1/boards",
            Some(&ada),
            json!({ "name": "  Launch plan " }),
        )
        .await;
    response.assert_status(201);
    let board = response.json();
    assert_keys(&board, BOARD);
    let board_id = assert_uuid(&board["id"]);
    assert_eq!(board["name"], "Launch plan");
    assert_eq!(board["owner_id"], ada_id.as_str());
    assert_eq!(board["role"], "owner");
    assert_timestamp(&board["created_at"]);
    assert_timestamp(&board["updated_at"]);
    let board_path = format!("/api/v1/boards/{board_id}");

    // Bob cannot see it yet.
    app.get(&board_path, Some(&bob))
        .await
        .assert_error(404, "not_found");

    // Ada shares it with Bob as editor.
    let response = app
        .put(
            &format!("{board_path}/members"),
            Some(&ada),
            json!({ "email": "bob@example.com", "role": "editor" }),
        )
        .await;
    response.assert_status(200);
    let member = response.json();
    assert_keys(&member, MEMBER);
    assert_eq!(
        member,
        json!({ "user_id": bob_id, "email": "bob@example.com", "display_name": "bob", "role": "editor" })
    );

    let response = app.get(&format!("{board_path}/members"), Some(&bob)).await;
    response.assert_status(200);
    let members = response.json();
    assert_keys(&members, &["items"]);
    let items = members["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for item in items {
        assert_keys(item, MEMBER);
    }
    let owner = items
        .iter()
        .find(|item| item["role"] == "owner")
        .expect("the owner is listed");
    assert_eq!(
        *owner,
        json!({ "user_id": ada_id, "email": "ada@example.com", "display_name": "Ada", "role": "owner" })
    );

    // Bob renames it.
    let response = app
        .patch(&board_path, Some(&bob), json!({ "name": "Launch plan v2" }))
        .await;
    response.assert_status(200);
    let renamed = response.json();
    assert_keys(&renamed, BOARD);
    assert_eq!(renamed["id"], board_id.as_str());
    assert_eq!(renamed["name"], "Launch plan v2");
    assert_eq!(renamed["owner_id"], ada_id.as_str());
    assert_eq!(renamed["role"], "editor");
    assert_eq!(renamed["created_at"], board["created_at"]);

    // Both list it, each with their own role.
    for (token, role) in [(&ada, "owner"), (&bob, "editor")] {
        let response = app.get("/api/v1/boards", Some(token)).await;
        response.assert_status(200);
        let list = response.json();
        assert_keys(&list, &["items", "total"]);
        assert_eq!(list["total"], 1);
        let item = &list["items"][0];
        assert_keys(item, BOARD);
        assert_eq!(item["id"], board_id.as_str());
        assert_eq!(item["name"], "Launch plan v2");
        assert_eq!(item["role"], role);
    }

    // The audit log tells the story, newest first.
    let response = app.get(&format!("{board_path}/audit"), Some(&bob)).await;
    response.assert_status(200);
    let audit = response.json();
    assert_keys(&audit, &["items", "total"]);
    assert_eq!(audit["total"], 3);
    let entries = audit["items"].as_array().expect("items");
    for entry in entries {
        assert_keys(entry, AUDIT_ENTRY);
        assert_uuid(&entry["id"]);
        assert_timestamp(&entry["created_at"]);
    }
    let story: Vec<(&Value, &Value)> = entries
        .iter()
        .map(|entry| (&entry["action"], &entry["actor_id"]))
        .collect();
    assert_eq!(
        story,
        [
            (&json!("board.renamed"), &json!(bob_id)),
            (&json!("member.added"), &json!(ada_id)),
            (&json!("board.created"), &json!(ada_id)),
        ]
    );

    // Only the owner may delete it.
    app.delete(&board_path, Some(&bob))
        .await
        .assert_error(403, "forbidden");
    let response = app.delete(&board_path, Some(&ada)).await;
    response.assert_status(204);
    assert!(response.bytes.is_empty());

    for token in [&ada, &bob] {
        app.get(&board_path, Some(token))
            .await
            .assert_error(404, "not_found");
        let response = app.get("/api/v1/boards", Some(token)).await;
        response.assert_status(200);
        assert_eq!(response.json(), json!({ "items": [], "total": 0 }));
    }
}
