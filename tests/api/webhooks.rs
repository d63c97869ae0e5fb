//! Webhooks with a local receiver: every event of the contract, signed and
//! in the contract's shape (`webhooks_delivery.rs`: retries, claims and a
//! dead receiver; `webhooks_board_updated.rs`: `board.updated`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    harness::{backend_test, yjs_update, Backend, TestApp},
    webhook_receiver::{webhook_config, Received, Receiver},
};

pub const WAIT: Duration = Duration::from_secs(10);

/// Waits until the outbox holds no delivery and no event (all delivered or
/// given up).
pub async fn wait_for_empty_outbox(app: &TestApp) {
    app.wait_for_count("SELECT COUNT(*) AS n FROM webhook_deliveries", 0)
        .await;
    app.wait_for_count("SELECT COUNT(*) AS n FROM webhook_events", 0)
        .await;
}

#[track_caller]
pub fn assert_contract_shape(received: &Received, event_type: &str, board_id: &str) -> Value {
    received.assert_signed();
    assert_eq!(received.content_type, "application/json");
    let body = received.json();
    let fields: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["board_id", "created_at", "data", "id", "type"],
        "{body}"
    );
    assert_eq!(
        body["id"],
        received.id.as_str(),
        "webhook-id is the event id"
    );
    assert!(
        uuid::Uuid::parse_str(&received.id).is_ok(),
        "{}",
        received.id
    );
    assert_eq!(body["type"], event_type);
    assert_eq!(body["board_id"], board_id);
    let created_at = body["created_at"].as_str().expect("created_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{created_at}"
    );
    assert!(body["data"].is_object(), "{body}");
    body["data"].clone()
}

backend_test!(every_event_of_the_contract_is_delivered_signed_in_the_contracts_shape);
async fn every_event_of_the_contract_is_delivered_signed_in_the_contracts_shape(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = backend.spawn_with(webhook_config(&receiver.url)).await;
    let owner = app.register("owner").await;
    let member = app.register("member").await;
    let board = app.create_board(&owner, "Plan").await;
    let data = assert_contract_shape(
        &receiver.event("board.created").await,
        "board.created",
        &board,
    );
    assert_eq!(data, json!({ "actor_id": owner.id, "name": "Plan" }));

    app.patch(
        &format!("/api/v1/boards/{board}"),
        Some(&owner.token),
        json!({ "name": "Roadmap" }),
    )
    .await
    .assert_status(200);
    let data = assert_contract_shape(
        &receiver.event("board.renamed").await,
        "board.renamed",
        &board,
    );
    assert_eq!(
        data,
        json!({ "actor_id": owner.id, "from": "Plan", "to": "Roadmap" })
    );

    app.share(&board, &owner, &member, "viewer").await;
    let data = assert_contract_shape(
        &receiver.event("member.added").await,
        "member.added",
        &board,
    );
    assert_eq!(
        data,
        json!({ "actor_id": owner.id, "user_id": member.id, "role": "viewer" })
    );

    app.share(&board, &owner, &member, "editor").await;
    let changed = receiver.event("member.role_changed").await;
    let data = assert_contract_shape(&changed, "member.role_changed", &board);
    assert_eq!(
        data,
        json!({ "actor_id": owner.id, "user_id": member.id, "from": "viewer", "to": "editor" })
    );

    app.post_update(&board, &member, yjs_update("k", "v"))
        .await
        .assert_status(204);
    let data = assert_contract_shape(
        &receiver.event("board.updated").await,
        "board.updated",
        &board,
    );
    assert!(data["authors"].is_array(), "{data}");

    app.delete(
        &format!("/api/v1/boards/{board}/members/{}", member.id),
        Some(&owner.token),
    )
    .await
    .assert_status(204);
    let data = assert_contract_shape(
        &receiver.event("member.removed").await,
        "member.removed",
        &board,
    );
    assert_eq!(
        data,
        json!({ "actor_id": owner.id, "user_id": member.id, "role": "editor" })
    );

    app.delete(&format!("/api/v1/boards/{board}"), Some(&owner.token))
        .await
        .assert_status(204);
    let data = assert_contract_shape(
        &receiver.event("board.deleted").await,
        "board.deleted",
        &board,
    );
    assert_eq!(data, json!({ "actor_id": owner.id, "name": "Roadmap" }));

    // Delivered and gone: the outbox keeps nothing once every receiver has it.
    wait_for_empty_outbox(&app).await;
    let ids: std::collections::HashSet<String> =
        receiver.received().into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids.len(),
        receiver.received().len(),
        "one request per event"
    );
}

backend_test!(deleting_an_account_reports_each_board_it_owned_as_deleted);
async fn deleting_an_account_reports_each_board_it_owned_as_deleted(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = backend.spawn_with(webhook_config(&receiver.url)).await;
    let owner = app.register("leaving").await;
    let first = app.create_board(&owner, "One").await;
    let second = app.create_board(&owner, "Two").await;
    app.delete("/api/v1/me", Some(&owner.token))
        .await
        .assert_status(204);
    let received = receiver
        .wait_for("two board.deleted", WAIT, |received| {
            received
                .iter()
                .filter(|r| r.event_type() == "board.deleted")
                .count()
                == 2
        })
        .await;
    let mut deleted: Vec<(String, String)> = received
        .iter()
        .filter(|r| r.event_type() == "board.deleted")
        .map(|r| {
            let body = r.json();
            assert_eq!(body["data"]["actor_id"], owner.id.as_str());
            (
                body["board_id"].as_str().expect("id").to_owned(),
                body["data"]["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    deleted.sort();
    let mut expected = vec![(first, "One".to_owned()), (second, "Two".to_owned())];
    expected.sort();
    assert_eq!(deleted, expected);
}

backend_test!(without_webhook_urls_no_event_is_written);
async fn without_webhook_urls_no_event_is_written(app: TestApp) {
    let (owner, board) = app.user_with_board("quiet").await;
    app.patch(
        &format!("/api/v1/boards/{board}"),
        Some(&owner.token),
        json!({ "name": "Other" }),
    )
    .await
    .assert_status(200);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM webhook_events"), 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM webhook_deliveries"), 0);
}

backend_test!(creating_and_restoring_a_version_send_their_events_and_deleting_one_sends_none);
async fn creating_and_restoring_a_version_send_their_events_and_deleting_one_sends_none(
    backend: Backend,
) {
    let receiver = Receiver::start().await;
    let app = backend.spawn_with(webhook_config(&receiver.url)).await;
    let owner = app.register("keeper").await;
    let board = app.create_board(&owner, "History").await;
    let versions = format!("/api/v1/boards/{board}/versions");
    let created = app
        .post(&versions, Some(&owner.token), json!({ "label": "first" }))
        .await;
    created.assert_status(201);
    let version = created.json()["id"].as_str().expect("id").to_owned();
    let data = assert_contract_shape(
        &receiver.event("version.created").await,
        "version.created",
        &board,
    );
    assert_eq!(data["actor_id"], owner.id.as_str(), "{data}");

    let restored = app
        .post(
            &format!("{versions}/{version}/restore"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    restored.assert_status(200);
    let data = assert_contract_shape(
        &receiver.event("version.restored").await,
        "version.restored",
        &board,
    );
    assert_eq!(data["actor_id"], owner.id.as_str(), "{data}");

    app.delete(&format!("{versions}/{version}"), Some(&owner.token))
        .await
        .assert_status(204);
    // `version.deleted` is audited but is not one of the contract's webhook
    // events: once the outbox is empty, nothing of that type was sent.
    wait_for_empty_outbox(&app).await;
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.event_type() != "version.deleted"),
        "version.deleted is not a webhook event"
    );
}
