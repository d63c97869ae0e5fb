//! Awareness on `GET /boards/{id}/sync`: a socket speaks only for the client
//! ids it announced itself, so nobody can fake or erase another's cursor, and
//! a socket that keeps naming ids it does not own is closed `1008`.

use canvas_server::protocol::{guard::MAX_AWARENESS_ENTRIES, message};

use crate::{
    harness::TestApp,
    sync_client::{Ended, SyncClient},
};

/// Sends one awareness message with `entries` (client id, clock, state JSON).
async fn send_awareness(client: &mut SyncClient, entries: &[(u64, u64, &str)]) {
    let payload = message::encode_awareness_payload(entries.iter().copied());
    client.send_raw(message::encode_awareness(&payload)).await;
}

/// `count` removals (`null` states) of client ids nobody announced.
fn removals_of_unknown_ids(first: u64, count: u64) -> Vec<(u64, u64, &'static str)> {
    (first..first + count).map(|id| (id, 1, "null")).collect()
}

#[tokio::test]
async fn a_second_socket_can_neither_overwrite_nor_remove_the_first_ones_awareness() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let vic = app.register("vic").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &vic, "viewer").await;
    let mut owner = app.connect(&board, &ada).await;
    let mut watcher = app.connect(&board, &ada).await;
    let mut mallory = app.connect(&board, &vic).await;
    let ada_id = owner.client_id();
    owner.set_awareness(1, r#"{"name":"ada"}"#).await;
    watcher
        .wait_for(|c| c.awareness.get(&ada_id).is_some_and(|s| s.contains("ada")))
        .await;

    // Newer clocks for the owner's id: a fake state, then a removal. Then the
    // viewer's own state, which the watcher sees only after anything before it.
    send_awareness(&mut mallory, &[(ada_id, 7, r#"{"name":"mallory"}"#)]).await;
    send_awareness(&mut mallory, &[(ada_id, 8, "null")]).await;
    let mallory_id = mallory.client_id();
    mallory.set_awareness(1, r#"{"name":"vic"}"#).await;
    watcher
        .wait_for(|c| c.awareness.contains_key(&mallory_id))
        .await;
    assert_eq!(watcher.awareness[&ada_id], r#"{"name":"ada"}"#);

    // The server kept the owner's state too: a newcomer gets it.
    let mut newcomer = app.connect(&board, &ada).await;
    newcomer
        .wait_for(|c| c.awareness.contains_key(&ada_id) && c.awareness.contains_key(&mallory_id))
        .await;
    assert_eq!(newcomer.awareness[&ada_id], r#"{"name":"ada"}"#);

    // The owner still speaks for itself.
    owner.set_awareness(2, r#"{"name":"ada","cursor":1}"#).await;
    watcher
        .wait_for(|c| {
            c.awareness
                .get(&ada_id)
                .is_some_and(|s| s.contains("cursor"))
        })
        .await;
}

#[tokio::test]
async fn a_socket_that_keeps_naming_clients_it_does_not_own_is_closed_1008() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let vic = app.register("vic").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &vic, "viewer").await;
    let mut owner = app.connect(&board, &ada).await;
    let mut watcher = app.connect(&board, &ada).await;

    // Removals of ids nobody announced, a few dozen at a time.
    let mut flooder = app.connect(&board, &vic).await;
    for batch in 0..10 {
        send_awareness(
            &mut flooder,
            &removals_of_unknown_ids(1_000 + batch * 50, 50),
        )
        .await;
    }
    assert_eq!(flooder.ended().await, Ended::Closed(1008));

    // Newer states for a client another user's socket owns.
    let ada_id = owner.client_id();
    owner.set_awareness(1, r#"{"name":"ada"}"#).await;
    watcher
        .wait_for(|c| c.awareness.contains_key(&ada_id))
        .await;
    let mut spoofer = app.connect(&board, &vic).await;
    for clock in 2..200 {
        send_awareness(&mut spoofer, &[(ada_id, clock, r#"{"name":"mallory"}"#)]).await;
    }
    assert_eq!(spoofer.ended().await, Ended::Closed(1008));

    // One message naming more clients than a board keeps: the probe's flood.
    let mut flooder = app.connect(&board, &vic).await;
    let flood = removals_of_unknown_ids(1, MAX_AWARENESS_ENTRIES as u64 + 1);
    send_awareness(&mut flooder, &flood).await;
    assert_eq!(flooder.ended().await, Ended::Closed(1008));

    // The owner's socket and state are untouched.
    owner.set_awareness(2, r#"{"name":"ada","cursor":1}"#).await;
    watcher
        .wait_for(|c| {
            c.awareness
                .get(&ada_id)
                .is_some_and(|s| s.contains("cursor"))
        })
        .await;
}
