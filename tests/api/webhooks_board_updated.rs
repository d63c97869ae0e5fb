//! `board.updated`: from saves (REST or socket edits), at most once per board
//! per `SAVE_MAX_DEBOUNCE_MS`, the waiting event kept across a restart.

use std::time::Duration;

use crate::{
    harness::{backend_test, yjs_update, Backend, TestApp},
    server_process::set_key,
    webhook_receiver::{webhook_config, Received, Receiver},
    webhooks::{wait_for_empty_outbox, WAIT},
};

/// The board's `board.updated` events received so far.
fn updates_of(received: &[Received], board: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.event_type() == "board.updated" && r.json()["board_id"] == board)
        .cloned()
        .collect()
}

backend_test!(board_updated_is_sent_at_most_once_per_window_however_many_saves);
async fn board_updated_is_sent_at_most_once_per_window_however_many_saves(backend: Backend) {
    let receiver = Receiver::start().await;
    let config = canvas_server::Config {
        // Saves 50 ms after each change; one event per board per 5 s (far
        // longer than the five saves below take, even on a busy machine).
        save_max_debounce: Duration::from_secs(5),
        ..webhook_config(&receiver.url)
    };
    let app = backend.spawn_with(config).await;
    let (owner, board) = app.user_with_board("busy").await;
    // Five saves, each awaited, well within one window.
    for n in 0..5 {
        edit_and_wait_for_save(&app, &board, &owner.token, &format!("k{n}")).await;
    }
    // The first save's event went out at once; the other four wait for the
    // window's end, together.
    let received = receiver
        .wait_for("two board.updated", WAIT, |received| {
            updates_of(received, &board).len() >= 2
        })
        .await;
    assert_eq!(updates_of(&received, &board).len(), 2);
    // Nothing is pending any more: no third event can come.
    app.wait_for_count(
        "SELECT COUNT(*) AS n FROM webhook_board_updates WHERE pending = TRUE",
        0,
    )
    .await;
    wait_for_empty_outbox(&app).await;
    assert_eq!(updates_of(&receiver.received(), &board).len(), 2);
}

/// Posts an update setting `key` and waits until a save has stored it.
async fn edit_and_wait_for_save(app: &TestApp, board: &str, token: &str, key: &str) {
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(token),
        yjs_update(key, "v"),
    )
    .await
    .assert_status(204);
    let deadline = tokio::time::Instant::now() + WAIT;
    while !app
        .database
        .stored_state(board)
        .is_some_and(|state| crate::harness::yjs_map_entries(&state).contains_key(key))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the save of {key} never came"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

backend_test!(a_board_updated_waiting_for_its_window_is_sent_after_a_restart);
async fn a_board_updated_waiting_for_its_window_is_sent_after_a_restart(backend: Backend) {
    let receiver = Receiver::start().await;
    let config = canvas_server::Config {
        save_max_debounce: Duration::from_secs(5),
        ..webhook_config(&receiver.url)
    };
    let app = backend.spawn_with(config).await;
    let (owner, board) = app.user_with_board("restarting").await;
    edit_and_wait_for_save(&app, &board, &owner.token, "first").await;
    receiver.event("board.updated").await;
    // The second save falls within the window: its event waits, stored.
    edit_and_wait_for_save(&app, &board, &owner.token, "second").await;
    app.wait_for_count(
        "SELECT COUNT(*) AS n FROM webhook_board_updates WHERE pending = TRUE",
        1,
    )
    .await;
    let mut app = app;
    app.shutdown().await;
    // Stopped with the event still waiting in the database...
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM webhook_board_updates WHERE pending = TRUE"),
        1
    );
    assert_eq!(updates_of(&receiver.received(), &board).len(), 1);
    // ...which the next start sends when the window ends.
    let app = app.restart().await;
    receiver
        .wait_for("the waiting board.updated", WAIT, |received| {
            updates_of(received, &board).len() == 2
        })
        .await;
    wait_for_empty_outbox(&app).await;
}

backend_test!(board_updated_names_the_authors_of_socket_and_rest_edits);
async fn board_updated_names_the_authors_of_socket_and_rest_edits(backend: Backend) {
    let receiver = Receiver::start().await;
    let app = backend.spawn_with(webhook_config(&receiver.url)).await;
    let owner = app.register("drawer").await;
    let editor = app.register("typist").await;
    let board = app.create_board(&owner, "Plan").await;
    app.share(&board, &owner, &editor, "editor").await;
    let mut socket = app.connect(&board, &owner).await;
    set_key(&mut socket, "from-socket".to_owned()).await;
    app.post_update(&board, &editor, yjs_update("rest", "v"))
        .await
        .assert_status(204);
    let mut expected = vec![owner.id.clone(), editor.id.clone()];
    expected.sort();
    receiver
        .wait_for("both authors", WAIT, |received| {
            let mut authors: Vec<String> = updates_of(received, &board)
                .iter()
                .flat_map(|r| {
                    r.json()["data"]["authors"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect();
            authors.sort();
            authors.dedup();
            authors == expected
        })
        .await;
}
