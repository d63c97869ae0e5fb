//! Access changes made on one instance, applied to sockets on the other; and
//! readiness when Redis does not answer.

use serde_json::json;
use yrs::{Map, WriteTxn};

use super::{clustered, map_has, test_redis_url, two_instances, unique_prefix, wait_until_ready};
use crate::{
    harness::TestApp,
    sync_client::{connect, Ended},
};

#[tokio::test]
async fn removing_a_member_on_one_instance_closes_their_sockets_on_the_other_with_4403() {
    let Some(url) = test_redis_url(
        "removing_a_member_on_one_instance_closes_their_sockets_on_the_other_with_4403",
    ) else {
        return;
    };
    let Some((a, b)) = two_instances(&url, |c| c).await else {
        return;
    };
    let ada = a.register("ada").await;
    let eve = a.register("eve").await;
    let bob = a.register("bob").await;
    let board = a.create_board(&ada, "Plan").await;
    a.share(&board, &ada, &eve, "editor").await;
    a.share(&board, &ada, &bob, "editor").await;
    let mut owner = connect(&b.sync_url(&board, &ada.token)).await;
    let mut removed = connect(&b.sync_url(&board, &eve.token)).await;
    let mut demoted = connect(&b.sync_url(&board, &bob.token)).await;

    a.put(
        &format!("/api/v1/boards/{board}/members"),
        Some(&ada.token),
        json!({ "email": bob.email, "role": "viewer" }),
    )
    .await
    .assert_status(200);
    a.delete(
        &format!("/api/v1/boards/{board}/members/{}", eve.id),
        Some(&ada.token),
    )
    .await
    .assert_status(204);
    assert_eq!(removed.ended().await, Ended::Closed(4403));

    // The demoted editor's socket on b is read-only now.
    demoted
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "sneaky", true);
        })
        .await;
    demoted.wait_for(|c| !c.denied.is_empty()).await;
    assert_eq!(demoted.denied, ["read-only"]);

    // An account deleted on a closes its sockets on b, on every board.
    a.delete("/api/v1/me", Some(&bob.token))
        .await
        .assert_status(204);
    assert_eq!(demoted.ended().await, Ended::Closed(4403));
    owner
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "still", true);
        })
        .await;
    let mut on_a = connect(&a.sync_url(&board, &ada.token)).await;
    on_a.wait_for(|c| map_has(c, "still")).await;
    assert!(!map_has(&on_a, "sneaky"));
}

#[tokio::test]
async fn deleting_a_board_on_one_instance_closes_its_sockets_on_the_other_with_4404() {
    let Some(url) = test_redis_url(
        "deleting_a_board_on_one_instance_closes_its_sockets_on_the_other_with_4404",
    ) else {
        return;
    };
    let Some((a, b)) = two_instances(&url, |c| c).await else {
        return;
    };
    let ada = a.register("ada").await;
    let board = a.create_board(&ada, "Plan").await;
    let other = a.create_board(&ada, "Other").await;
    let mut on_b = connect(&b.sync_url(&board, &ada.token)).await;
    let mut also_on_b = connect(&b.sync_url(&board, &ada.token)).await;
    let mut unrelated = connect(&b.sync_url(&other, &ada.token)).await;
    let mut on_a = connect(&a.sync_url(&board, &ada.token)).await;

    a.delete(&format!("/api/v1/boards/{board}"), Some(&ada.token))
        .await
        .assert_status(204);
    assert_eq!(on_a.ended().await, Ended::Closed(4404));
    assert_eq!(on_b.ended().await, Ended::Closed(4404));
    assert_eq!(also_on_b.ended().await, Ended::Closed(4404));
    unrelated
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "alive", true);
        })
        .await;
    let mut check = connect(&a.sync_url(&other, &ada.token)).await;
    check.wait_for(|c| map_has(c, "alive")).await;
}

#[tokio::test]
async fn readiness_is_503_while_the_configured_redis_does_not_answer() {
    // Needs no Redis: nothing listens on port 1.
    let Some(app) = TestApp::spawn_with(clustered("redis://127.0.0.1:1", &unique_prefix())).await
    else {
        return;
    };
    wait_until_ready(&app, 503).await;
    // The server still serves, alone.
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut one = connect(&app.sync_url(&board, &ada.token)).await;
    let mut two = connect(&app.sync_url(&board, &ada.token)).await;
    one.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "alone", true);
    })
    .await;
    two.wait_for(|c| map_has(c, "alone")).await;
}
