//! Access changes made on one instance, applied to sockets on the other; and
//! readiness when Redis does not answer.

use serde_json::json;
use yrs::{Map, WriteTxn};

use super::{clustered, map_has, two_instances, unique_prefix, wait_until_ready, Redis};
use crate::{
    harness::{backend_test, Backend},
    sync_client::Ended,
};

backend_test!(removing_a_member_on_one_instance_closes_their_sockets_on_the_other_with_4403);
async fn removing_a_member_on_one_instance_closes_their_sockets_on_the_other_with_4403(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, |c| c).await;
    let ada = a.register("ada").await;
    let eve = a.register("eve").await;
    let bob = a.register("bob").await;
    let board = a.create_board(&ada, "Plan").await;
    a.share(&board, &ada, &eve, "editor").await;
    a.share(&board, &ada, &bob, "editor").await;
    let mut owner = b.connect(&board, &ada).await;
    let mut removed = b.connect(&board, &eve).await;
    let mut demoted = b.connect(&board, &bob).await;

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
    let mut on_a = a.connect(&board, &ada).await;
    on_a.wait_for(|c| map_has(c, "still")).await;
    assert!(!map_has(&on_a, "sneaky"));
}

backend_test!(deleting_a_board_on_one_instance_closes_its_sockets_on_the_other_with_4404);
async fn deleting_a_board_on_one_instance_closes_its_sockets_on_the_other_with_4404(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, |c| c).await;
    let (ada, board) = a.user_with_board("ada").await;
    let other = a.create_board(&ada, "Other").await;
    let mut on_b = b.connect(&board, &ada).await;
    let mut also_on_b = b.connect(&board, &ada).await;
    let mut unrelated = b.connect(&other, &ada).await;
    let mut on_a = a.connect(&board, &ada).await;

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
    let mut check = a.connect(&other, &ada).await;
    check.wait_for(|c| map_has(c, "alive")).await;
}

backend_test!(readiness_is_503_while_the_configured_redis_does_not_answer);
async fn readiness_is_503_while_the_configured_redis_does_not_answer(backend: Backend) {
    // Needs no Redis: nothing listens on port 1.
    let app = backend
        .spawn_with(clustered("redis://127.0.0.1:1", &unique_prefix()))
        .await;
    wait_until_ready(&app, 503).await;
    // The server still serves, alone.
    let (ada, board) = app.user_with_board("ada").await;
    let mut one = app.connect(&board, &ada).await;
    let mut two = app.connect(&board, &ada).await;
    one.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "alone", true);
    })
    .await;
    two.wait_for(|c| map_has(c, "alone")).await;
}
