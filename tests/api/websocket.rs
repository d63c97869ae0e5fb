//! The WebSocket layer itself (RFC 6455), seen by a stock client: pings,
//! the closing handshake, fragmented messages, protocol errors and requests
//! that are not upgrades.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{
        protocol::{
            frame::{
                coding::{CloseCode, Data, OpCode},
                Frame,
            },
            CloseFrame,
        },
        Message,
    },
    MaybeTlsStream, WebSocketStream,
};
use yrs::{Doc, GetString, ReadTxn, Text, Transact, WriteTxn};

use crate::{
    harness::TestApp,
    sync_client::{connect, WAIT},
};
use canvas_server::protocol::message;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket on a fresh board, and the app.
async fn socket_on_a_board() -> Option<(TestApp, String, String, Socket)> {
    let app = TestApp::spawn().await?;
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let (socket, _) = connect_async(app.sync_url(&board, &ada.token))
        .await
        .expect("upgrade");
    Some((app, board, ada.token, socket))
}

/// The next message that is not a y-websocket binary message, within [`WAIT`].
async fn next_control(socket: &mut Socket) -> Option<Message> {
    loop {
        let next = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the server answered in time");
        match next {
            Some(Ok(Message::Binary(_))) => {}
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_carrying_its_payload() {
    let Some((_app, _board, _token, mut socket)) = socket_on_a_board().await else {
        return;
    };
    socket
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping sent");
    assert_eq!(
        next_control(&mut socket).await,
        Some(Message::Pong(Bytes::from_static(b"are you there")))
    );
}

#[tokio::test]
async fn a_client_close_is_answered_with_the_same_code() {
    let Some((app, board, _token, mut socket)) = socket_on_a_board().await else {
        return;
    };
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Library(4000),
            reason: "bye".into(),
        })))
        .await
        .expect("close sent");
    match next_control(&mut socket).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("expected the close echoed, got {other:?}"),
    }
    // The socket left its board.
    let deadline = tokio::time::Instant::now() + WAIT;
    let board_id: uuid::Uuid = board.parse().expect("board id");
    let peers = || {
        app.state
            .boards
            .loaded(board_id)
            .map_or(0, |b| b.peer_count())
    };
    while peers() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "socket still on its board"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_fragmented_update_is_applied_like_a_whole_one() {
    let Some((app, board, token, mut socket)) = socket_on_a_board().await else {
        return;
    };
    let mut reader = connect(&app.sync_url(&board, &token)).await;
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    text.insert(&mut doc.transact_mut(), 0, "sent in three pieces");
    let update = doc
        .transact()
        .encode_state_as_update_v1(&Default::default());
    let frame = message::encode_update(&update);
    let (first, rest) = frame.split_at(3);
    let (second, third) = rest.split_at(rest.len() / 2);
    let pieces = [
        Frame::message(first.to_vec(), OpCode::Data(Data::Binary), false),
        Frame::message(second.to_vec(), OpCode::Data(Data::Continue), false),
        Frame::message(third.to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for piece in pieces {
        socket
            .send(Message::Frame(piece))
            .await
            .expect("fragment sent");
    }
    reader
        .wait_for(|client| client.text_len("text") == "sent in three pieces".len())
        .await;
    let replica = reader.doc.get_or_insert_text("text");
    assert_eq!(
        replica.get_string(&reader.doc.transact()),
        "sent in three pieces"
    );
}

#[tokio::test]
async fn an_unmasked_client_frame_closes_with_1002_and_others_are_unaffected() {
    let Some((app, board, token, mut socket)) = socket_on_a_board().await else {
        return;
    };
    let mut other = connect(&app.sync_url(&board, &token)).await;
    // A binary frame of one byte without the mask bit (RFC 6455 §5.1).
    let raw = match socket.get_mut() {
        MaybeTlsStream::Plain(stream) => stream,
        _ => panic!("plain TCP in tests"),
    };
    raw.write_all(&[0x82, 0x01, 0x00]).await.expect("raw frame");
    match next_control(&mut socket).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1002),
        other => panic!("expected close 1002, got {other:?}"),
    }
    other
        .edit(|txn| {
            txn.get_or_insert_text("text").insert(txn, 0, "still here");
        })
        .await;
    other.handshake().await;
}

#[tokio::test]
async fn a_plain_get_on_the_sync_route_is_400_and_says_what_is_missing() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let response = app
        .get(&format!("/api/v1/boards/{board}/sync"), Some(&ada.token))
        .await;
    response.assert_error(400, "bad_request");
    let message = response.json()["error"]["message"].to_string();
    assert!(message.contains("Connection"), "{message}");
}

#[tokio::test]
async fn updates_sent_together_with_a_close_still_reach_the_others() {
    let Some((app, board, token, mut socket)) = socket_on_a_board().await else {
        return;
    };
    let mut reader = connect(&app.sync_url(&board, &token)).await;
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    let mut frames = Vec::new();
    for word in ["one ", "two ", "three"] {
        let before = doc.transact().state_vector();
        let len = text.len(&doc.transact());
        text.insert(&mut doc.transact_mut(), len, word);
        frames.push(message::encode_update(
            &doc.transact().encode_diff_v1(&before),
        ));
    }
    // One write: the server reads the updates and the close in one go.
    for frame in frames {
        socket
            .feed(Message::Binary(Bytes::from(frame)))
            .await
            .expect("queued");
    }
    socket.feed(Message::Close(None)).await.expect("queued");
    socket.flush().await.expect("written");
    reader
        .wait_for(|client| client.text_len("text") == "one two three".len())
        .await;
}

#[tokio::test]
async fn a_ping_flood_counts_against_the_message_rate_and_closes_1008() {
    let Some(app) = TestApp::spawn_with(canvas_server::Config {
        rate_ws_msgs_per_sec: 5,
        ..crate::harness::test_config()
    })
    .await
    else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let (mut socket, _) = connect_async(app.sync_url(&board, &ada.token))
        .await
        .expect("upgrade");
    // Burst allowance is 10 × 5 = 50 messages.
    for _ in 0..200 {
        if socket.send(Message::Ping(Bytes::new())).await.is_err() {
            break;
        }
    }
    let mut code = None;
    while let Ok(Some(message)) = tokio::time::timeout(WAIT, socket.next()).await {
        match message {
            Ok(Message::Close(Some(frame))) => {
                code = Some(u16::from(frame.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1008));
}
