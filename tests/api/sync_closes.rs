//! Why and how the server closes sync sockets: bad frames (1007), text
//! messages (1003), oversized frames (1009), slow clients (1013), removed
//! members (4403), deleted boards (4404), silent clients (dropped) — each
//! closing only the socket concerned.

use std::time::Duration;

use yrs::{Map, Text, WriteTxn};

use crate::{
    harness::{test_config, TestApp},
    sync_client::{connect, connect_with_small_receive_buffer, content_of, Ended},
};

/// Proves a socket still works: an edit on it reaches `other`.
async fn still_serves(
    sender: &mut crate::sync_client::SyncClient,
    other: &mut crate::sync_client::SyncClient,
    key: &str,
) {
    let key = key.to_owned();
    let sent = key.clone();
    sender
        .edit(move |txn| {
            txn.get_or_insert_map("map").insert(txn, sent, true);
        })
        .await;
    other
        .wait_for(|c| content_of(&c.state())["map"][&key] == true)
        .await;
}

#[tokio::test]
async fn undecodable_frames_close_only_their_socket_with_1007() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;
    let cases: Vec<Vec<u8>> = vec![
        vec![],                          // empty frame
        vec![9],                         // unknown message type
        vec![0, 7, 0],                   // unknown sync type
        vec![0, 2, 10, 1, 2],            // length past the end
        vec![0, 2, 2, 0xff, 0xff],       // update that is not an update
        vec![0, 0, 3, 0x85, 0x80, 0x80], // state vector that is not one
        vec![1, 5, 1, 7, 1, 1, b'{'],    // awareness with invalid JSON
    ];
    for frame in cases {
        let mut victim = connect(&app.sync_url(&board, &ada.token)).await;
        victim.send_raw(frame.clone()).await;
        assert_eq!(victim.ended().await, Ended::Closed(1007), "frame {frame:?}");
    }
    still_serves(&mut a, &mut b, "after_bad_frames").await;
}

#[tokio::test]
async fn text_messages_are_refused_with_1003() {
    use futures_util::SinkExt;
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let (mut socket, _) = tokio_tungstenite::connect_async(app.sync_url(&board, &ada.token))
        .await
        .expect("upgrade");
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            "hello".into(),
        ))
        .await
        .expect("send");
    let mut code = None;
    while let Some(Ok(message)) = futures_util::StreamExt::next(&mut socket).await {
        if let tokio_tungstenite::tungstenite::Message::Close(Some(frame)) = message {
            code = Some(u16::from(frame.code));
            break;
        }
    }
    assert_eq!(code, Some(1003));
}

#[tokio::test]
async fn a_frame_over_max_message_bytes_closes_with_1009() {
    let Some(app) = TestApp::spawn_with(canvas_server::Config {
        max_message_bytes: 64 * 1024,
        ..test_config()
    })
    .await
    else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;
    let mut big = connect(&app.sync_url(&board, &ada.token)).await;
    let text = "x".repeat(100 * 1024);
    big.edit(move |txn| {
        txn.get_or_insert_text("text").insert(txn, 0, &text);
    })
    .await;
    assert_eq!(big.ended().await, Ended::Closed(1009));
    still_serves(&mut a, &mut b, "after_big_frame").await;
    assert_eq!(
        content_of(&b.state())["text"],
        "",
        "the big edit was not applied"
    );
}

#[tokio::test]
async fn removing_a_member_closes_their_sockets_with_4403() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &eve, "editor").await;
    let mut owner = connect(&app.sync_url(&board, &ada.token)).await;
    let mut other = connect(&app.sync_url(&board, &ada.token)).await;
    let mut removed = connect(&app.sync_url(&board, &eve.token)).await;
    app.delete(
        &format!("/api/v1/boards/{board}/members/{}", eve.id),
        Some(&ada.token),
    )
    .await
    .assert_status(204);
    assert_eq!(removed.ended().await, Ended::Closed(4403));
    still_serves(&mut owner, &mut other, "after_removal").await;
    assert_eq!(
        crate::sync_client::try_connect(&app.sync_url(&board, &eve.token))
            .await
            .err(),
        Some(404)
    );
}

#[tokio::test]
async fn deleting_a_board_closes_its_sockets_with_4404() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let other_board = app.create_board(&ada, "Other").await;
    let mut a = connect(&app.sync_url(&board, &ada.token)).await;
    let mut b = connect(&app.sync_url(&board, &ada.token)).await;
    let mut x = connect(&app.sync_url(&other_board, &ada.token)).await;
    let mut y = connect(&app.sync_url(&other_board, &ada.token)).await;
    a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "doomed", true);
    })
    .await;
    app.delete(&format!("/api/v1/boards/{board}"), Some(&ada.token))
        .await
        .assert_status(204);
    assert_eq!(a.ended().await, Ended::Closed(4404));
    assert_eq!(b.ended().await, Ended::Closed(4404));
    still_serves(&mut x, &mut y, "other_board_unaffected").await;
    // The pending save of the deleted board must not resurrect its state.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let query = format!("SELECT COUNT(*) AS n FROM board_states WHERE board_id = '{board}'");
    assert_eq!(app.count(&query), 0);
}

#[tokio::test]
async fn deleting_an_account_closes_its_sockets() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let board = app.create_board(&ada, "Plan").await;
    let evesboard = app.create_board(&eve, "Eve's").await;
    app.share(&board, &ada, &eve, "editor").await;
    let mut on_shared = connect(&app.sync_url(&board, &eve.token)).await;
    let mut on_own = connect(&app.sync_url(&evesboard, &eve.token)).await;
    app.delete("/api/v1/me", Some(&eve.token))
        .await
        .assert_status(204);
    assert_eq!(on_shared.ended().await, Ended::Closed(4403));
    assert_eq!(on_own.ended().await, Ended::Closed(4404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_keep_up_is_closed_with_1013_and_others_keep_receiving() {
    let Some(app) = TestApp::spawn_with(canvas_server::Config {
        max_message_bytes: 1024 * 1024,
        ..test_config()
    })
    .await
    else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut slow =
        connect_with_small_receive_buffer(&app.sync_url(&board, &ada.token), app.addr).await;
    let mut writer = connect(&app.sync_url(&board, &ada.token)).await;
    let mut reader = connect(&app.sync_url(&board, &ada.token)).await;
    let chunk = "y".repeat(512 * 1024);
    let rounds = 24;
    let expected_len = chunk.len() * rounds;
    // The healthy reader reads all along; the slow one reads nothing until the end.
    let reading = tokio::spawn(async move {
        reader
            .wait_for_within(Duration::from_secs(60), |c| {
                c.text_len("text") == expected_len
            })
            .await;
    });
    for _ in 0..rounds {
        let chunk = chunk.clone();
        writer
            .edit(move |txn| {
                txn.get_or_insert_text("text").push(txn, &chunk);
            })
            .await;
    }
    reading
        .await
        .expect("the healthy reader received everything");
    assert_eq!(slow.ended().await, Ended::Closed(1013));
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_dropped() {
    let Some(app) = TestApp::spawn_with(canvas_server::Config {
        ws_ping_interval: Duration::from_millis(100),
        ws_idle_timeout: Duration::from_millis(400),
        ..test_config()
    })
    .await
    else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let silent = connect(&app.sync_url(&board, &ada.token)).await;
    // Not reading means not answering pings; the server gives up on it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app
        .state
        .boards
        .loaded(uuid::Uuid::parse_str(&board).expect("id"))
        .is_some_and(|b| b.peer_count() > 0)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "silent socket never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(silent);
}
