//! `GET /boards/{id}/sync`: convergence, late joiners, awareness, viewers,
//! persistence across restarts and shutdowns, and REST content routes.

use std::time::Duration;

use serde_json::json;
use yrs::{Array, Map, Text, Transact, WriteTxn};

use crate::{
    harness::{test_config, TestApp},
    sync_client::{connect, content_of, try_connect, try_connect_with_header},
};

#[tokio::test]
async fn two_clients_converge_on_map_text_and_array_edits() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;

    a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "shape", "circle");
        txn.get_or_insert_text("text").insert(txn, 0, "hello");
    })
    .await;
    b.edit(|txn| {
        txn.get_or_insert_array("array").push_back(txn, "one");
        txn.get_or_insert_map("map").insert(txn, "color", "red");
    })
    .await;
    a.wait_for(|c| content_of(&c.state())["array"] == json!(["one"]))
        .await;
    b.wait_for(|c| content_of(&c.state())["text"] == "hello")
        .await;
    a.edit(|txn| {
        txn.get_or_insert_text("text").insert(txn, 5, " world");
    })
    .await;
    b.wait_for(|c| content_of(&c.state())["text"] == "hello world")
        .await;

    let expected = json!({
        "map": { "shape": "circle", "color": "red" },
        "text": "hello world",
        "array": ["one"],
    });
    assert_eq!(content_of(&a.state()), expected);
    assert_eq!(content_of(&b.state()), expected);
}

#[tokio::test]
async fn a_late_joiner_gets_the_full_state() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut first = connect(&app.sync_url(&board, &ada.token)).await;
    for i in 0..20 {
        first
            .edit(|txn| {
                txn.get_or_insert_array("array").push_back(txn, i);
            })
            .await;
    }
    // A round trip through the server orders the edits before the join.
    let mut second = connect(&app.sync_url(&board, &ada.token)).await;
    second
        .wait_for(|c| content_of(&c.state())["array"].as_array().map(Vec::len) == Some(20))
        .await;
    assert_eq!(content_of(&second.state()), content_of(&first.state()));
}

#[tokio::test]
async fn the_token_may_come_in_the_authorization_header() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let url = format!("ws://{}/api/v1/boards/{board}/sync", app.addr);
    let mut client = try_connect_with_header(&url, &ada.token)
        .await
        .expect("upgrade with header token");
    client.handshake().await;
}

#[tokio::test]
async fn awareness_is_relayed_sent_to_newcomers_and_removed_on_disconnect() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;
    let a_id = a.client_id();
    a.set_awareness(1, r#"{"cursor":{"x":1,"y":2}}"#).await;
    b.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s.contains("cursor")))
        .await;

    // A newcomer receives the current states on connect.
    let mut c = connect(&app.sync_url(&board, &ada.token)).await;
    c.wait_for(|c| c.awareness.contains_key(&a_id)).await;

    a.close().await;
    b.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s == "null"))
        .await;
    c.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s == "null"))
        .await;
}

#[tokio::test]
async fn query_awareness_is_answered_with_the_current_states() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    a.set_awareness(3, r#"{"name":"ada"}"#).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;
    let a_id = a.client_id();
    b.wait_for(|c| c.awareness.contains_key(&a_id)).await;
    b.awareness.clear();
    b.send_raw(vec![3]).await;
    b.wait_for(|c| c.awareness.contains_key(&a_id)).await;
}

#[tokio::test]
async fn a_viewers_edits_are_refused_never_relayed_nor_stored() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let vic = app.register("vic").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &vic, "viewer").await;
    let mut owner = connect(&app.sync_url(&board, &ada.token)).await;
    let mut viewer = connect(&app.sync_url(&board, &vic.token)).await;

    viewer
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "evil", true);
        })
        .await;
    viewer.wait_for(|c| !c.denied.is_empty()).await;
    assert_eq!(viewer.denied, vec!["read-only".to_owned()]);

    // The viewer still receives live edits, and its awareness is relayed.
    viewer.set_awareness(1, r#"{"cursor":1}"#).await;
    let viewer_id = viewer.client_id();
    owner
        .wait_for(|c| c.awareness.contains_key(&viewer_id))
        .await;
    owner
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "ok", true);
        })
        .await;
    viewer
        .wait_for(|c| content_of(&c.state())["map"]["ok"] == true)
        .await;
    assert_eq!(content_of(&owner.state())["map"], json!({ "ok": true }));

    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    state.assert_status(200);
    assert_eq!(content_of(&state.bytes)["map"], json!({ "ok": true }));
    drop((owner, viewer));
    let app = app.restart().await;
    let stored = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    assert_eq!(content_of(&stored.bytes)["map"], json!({ "ok": true }));
}

#[tokio::test]
async fn a_demoted_editor_becomes_read_only_on_its_open_socket() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &eve, "editor").await;
    let mut editor = connect(&app.sync_url(&board, &eve.token)).await;
    app.share(&board, &ada, &eve, "viewer").await;
    editor
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "late", true);
        })
        .await;
    editor.wait_for(|c| !c.denied.is_empty()).await;
}

#[tokio::test]
async fn content_survives_a_restart_on_the_same_database_file() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut client = connect(&app.sync_url(&board, &ada.token)).await;
    client
        .edit(|txn| {
            txn.get_or_insert_text("text").insert(txn, 0, "persisted");
        })
        .await;
    let expected = content_of(&client.state());
    // Wait for the debounced save to land, then restart.
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;
    client.close().await;
    let app = app.restart().await;
    let mut fresh = connect(&app.sync_url(&board, &ada.token)).await;
    fresh.wait_for(|c| content_of(&c.state()) == expected).await;
}

/// Puts 8 KiB of text on a new board (far over what is decoded at load),
/// waits for it to be saved, and restarts, so the next socket loads it.
async fn large_board_after_a_restart() -> Option<(TestApp, crate::harness::TestUser, String)> {
    let app = TestApp::spawn().await?;
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Large").await;
    let mut writer = connect(&app.sync_url(&board, &ada.token)).await;
    writer
        .edit(|txn| {
            txn.get_or_insert_text("text")
                .insert(txn, 0, &"stored ".repeat(1200));
        })
        .await;
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;
    writer.close().await;
    Some((app.restart().await, ada, board))
}

#[tokio::test]
async fn a_client_joining_a_large_board_as_it_loads_keeps_its_offline_edits() {
    let Some((app, ada, board)) = large_board_after_a_restart().await else {
        return;
    };
    let url = app.sync_url(&board, &ada.token);
    let mut offline = try_connect(&url).await.expect("upgrade accepted");
    {
        let mut txn = offline.doc.transact_mut();
        txn.get_or_insert_map("map")
            .insert(&mut txn, "offline", true);
    }
    offline.handshake().await;
    // Its edits reach the server only in answer to the server's step 1.
    offline.wait_for(|c| c.server_step1_seen).await;
    assert_eq!(offline.text_len("text"), "stored ".len() * 1200);
    let mut other = connect(&url).await;
    other
        .wait_for(|c| content_of(&c.state())["map"]["offline"] == json!(true))
        .await;
}

#[tokio::test]
async fn a_fresh_client_of_a_large_board_as_it_loads_gets_the_whole_board_then_the_servers_step_1()
{
    let Some((app, ada, board)) = large_board_after_a_restart().await else {
        return;
    };
    let mut fresh = connect(&app.sync_url(&board, &ada.token)).await;
    assert_eq!(fresh.text_len("text"), "stored ".len() * 1200);
    fresh.wait_for(|c| c.server_step1_seen).await;
}

#[tokio::test]
async fn a_silent_client_of_a_large_board_as_it_loads_still_gets_the_servers_step_1() {
    let Some((app, ada, board)) = large_board_after_a_restart().await else {
        return;
    };
    // It sends nothing: the server's step 1 must not wait for it forever.
    let mut silent = try_connect(&app.sync_url(&board, &ada.token))
        .await
        .expect("upgrade accepted");
    silent.wait_for(|c| c.server_step1_seen).await;
}

#[tokio::test]
async fn a_shutdown_right_after_an_edit_still_saves_it() {
    let config = canvas_server::Config {
        // No debounce can fire during this test: only the shutdown flush saves.
        save_debounce: Duration::from_secs(600),
        save_max_debounce: Duration::from_secs(600),
        ..test_config()
    };
    let Some(app) = TestApp::spawn_with(config).await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut client = connect(&app.sync_url(&board, &ada.token)).await;
    client
        .edit(|txn| {
            txn.get_or_insert_map("map").insert(txn, "last", "edit");
        })
        .await;
    // A second socket seeing the edit proves the server applied it.
    let mut witness = connect(&app.sync_url(&board, &ada.token)).await;
    witness
        .wait_for(|c| content_of(&c.state())["map"]["last"] == "edit")
        .await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM board_states"), 0);

    let app = app.restart().await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM board_states"), 1);
    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    assert_eq!(content_of(&state.bytes)["map"]["last"], "edit");
}

#[tokio::test]
async fn rest_updates_reach_live_sockets_and_state_reads_the_live_document() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut client = connect(&app.sync_url(&board, &ada.token)).await;

    let doc = yrs::Doc::new();
    let update = {
        use yrs::{ReadTxn, Transact};
        doc.get_or_insert_map("map")
            .insert(&mut doc.transact_mut(), "from", "rest");
        doc.transact()
            .encode_state_as_update_v1(&yrs::StateVector::default())
    };
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(&ada.token),
        update,
    )
    .await
    .assert_status(204);
    client
        .wait_for(|c| content_of(&c.state())["map"]["from"] == "rest")
        .await;

    client
        .edit(|txn| {
            txn.get_or_insert_text("text").insert(txn, 0, "live");
        })
        .await;
    let mut witness = connect(&app.sync_url(&board, &ada.token)).await;
    witness
        .wait_for(|c| content_of(&c.state())["text"] == "live")
        .await;
    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    state.assert_status(200);
    assert_eq!(state.headers["content-type"], "application/octet-stream");
    assert_eq!(content_of(&state.bytes)["text"], "live");
}

#[tokio::test]
async fn the_state_of_a_never_edited_board_is_an_empty_update() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    state.assert_status(200);
    assert_eq!(state.bytes, vec![0, 0]);
}

#[tokio::test]
async fn the_upgrade_is_refused_over_http_without_a_valid_token_or_membership() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let mallory = app.register("mallory").await;
    let board = app.create_board(&ada, "Plan").await;
    let no_token = format!("ws://{}/api/v1/boards/{board}/sync", app.addr);
    assert_eq!(try_connect(&no_token).await.err(), Some(401));
    assert_eq!(
        try_connect(&app.sync_url(&board, "garbage")).await.err(),
        Some(401)
    );
    assert_eq!(
        try_connect(&app.sync_url(&board, &mallory.token))
            .await
            .err(),
        Some(404)
    );
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        try_connect(&app.sync_url(&missing, &ada.token)).await.err(),
        Some(404)
    );
    // A token whose account was deleted is refused as a token, not as a stranger.
    app.delete("/api/v1/me", Some(&mallory.token))
        .await
        .assert_status(204);
    assert_eq!(
        try_connect(&app.sync_url(&board, &mallory.token))
            .await
            .err(),
        Some(401)
    );
    // Refused upgrades never loaded a board.
    assert_eq!(app.state.boards.loaded_count(), 0);
}
