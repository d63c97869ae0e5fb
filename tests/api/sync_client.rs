//! A y-websocket client for tests: tokio-tungstenite plus a yrs document.

use std::time::Duration;

use bytes::Bytes;
use canvas_server::protocol::{
    guard::parse_awareness_update,
    message::{self, ClientMessage},
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};
use yrs::{
    updates::decoder::Decode, updates::encoder::Encode, Doc, ReadTxn, StateVector, Transact, Update,
};

/// How long any single wait for the server may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected client with its own replica of the board.
pub struct SyncClient {
    socket: Socket,
    pub doc: Doc,
    /// Awareness states seen: client id → state JSON (`null` when removed).
    pub awareness: std::collections::HashMap<u64, String>,
    /// Permission-denied reasons received.
    pub denied: Vec<String>,
    /// Whether the server's sync step 1 has arrived (and been answered).
    pub server_step1_seen: bool,
    synced: bool,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The connection dropped without a close frame.
    Dropped,
}

/// Connects with `?token=`; `Err(status)` when the server refused the upgrade.
pub async fn try_connect(url: &str) -> Result<SyncClient, u16> {
    connect_request(url.into_client_request().expect("request")).await
}

/// Connects with an `Authorization: Bearer` header instead of the query.
pub async fn try_connect_with_header(url: &str, token: &str) -> Result<SyncClient, u16> {
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    connect_request(request).await
}

async fn connect_request(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<SyncClient, u16> {
    // No Nagle: small frames must not wait for the server's delayed ACK.
    match connect_async_with_config(request, None, true).await {
        Ok((socket, _)) => Ok(SyncClient {
            socket,
            doc: Doc::new(),
            awareness: Default::default(),
            denied: Vec::new(),
            server_step1_seen: false,
            synced: false,
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("connect failed: {err}"),
    }
}

/// Connects and completes the sync handshake.
pub async fn connect(url: &str) -> SyncClient {
    let mut client = try_connect(url).await.expect("upgrade accepted");
    client.handshake().await;
    client
}

impl SyncClient {
    /// Sends our step 1 and waits until the server's step 2 is applied.
    pub async fn handshake(&mut self) {
        let sv = self.doc.transact().state_vector().encode_v1();
        self.send_raw(message::encode_sync_step1(&sv)).await;
        self.wait_for(|client| client.synced).await;
    }

    /// Sends a frame; a socket the server already closed is not an error here
    /// (the test then reads the close with [`Self::ended`]).
    pub async fn send_raw(&mut self, frame: Vec<u8>) {
        let _ = self.socket.send(Message::Binary(Bytes::from(frame))).await;
    }

    /// Sends frames in one write (as a client sends what it queued while
    /// the network was busy).
    pub async fn send_raw_burst(&mut self, frames: Vec<Vec<u8>>) {
        for frame in frames {
            let _ = self.socket.feed(Message::Binary(Bytes::from(frame))).await;
        }
        let _ = self.socket.flush().await;
    }

    /// Writes `bytes` to the connection as they are, below the WebSocket
    /// framing (to send a frame only in part).
    pub async fn write_unframed(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let MaybeTlsStream::Plain(stream) = self.socket.get_mut() else {
            panic!("the test client speaks plain TCP");
        };
        stream.write_all(bytes).await.expect("write");
    }

    /// Makes a local edit and sends it as a sync update.
    /// (Get root types through the transaction: `Doc::get_or_insert_*` would
    /// wait for the transaction this closure is given.)
    pub async fn edit(&mut self, f: impl FnOnce(&mut yrs::TransactionMut)) {
        let before = self.doc.transact().state_vector();
        {
            let mut txn = self.doc.transact_mut();
            f(&mut txn);
        }
        let update = self.doc.transact().encode_diff_v1(&before);
        self.send_raw(message::encode_update(&update)).await;
    }

    /// The replica's client id, as awareness messages carry it.
    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    /// Sends our awareness state.
    pub async fn set_awareness(&mut self, clock: u64, state: &str) {
        let client_id = self.client_id();
        let payload = message::encode_awareness_payload([(client_id, clock, state)].into_iter());
        self.send_raw(message::encode_awareness(&payload)).await;
    }

    /// Reads and handles messages until `done` holds; fails after [`WAIT`].
    pub async fn wait_for(&mut self, done: impl Fn(&Self) -> bool) {
        self.wait_for_within(WAIT, done).await;
    }

    /// [`Self::wait_for`] with a deadline of its own, for tests that move many
    /// megabytes through an unoptimized build on a shared machine.
    pub async fn wait_for_within(&mut self, wait: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + wait;
        while !done(self) {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("server answered in time");
            match next {
                Some(Ok(Message::Binary(frame))) => self.handle(&frame).await,
                Some(Ok(Message::Close(frame))) => panic!("socket closed: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("socket error: {err}"),
                None => panic!("socket ended"),
            }
        }
    }

    async fn handle(&mut self, frame: &[u8]) {
        if frame.first() == Some(&2) {
            // auth, permission denied: [2, 0, varString reason]
            let reason = String::from_utf8_lossy(frame.get(3..).unwrap_or_default()).into_owned();
            self.denied.push(reason);
            return;
        }
        match message::decode(frame).expect("server frames decode") {
            ClientMessage::SyncStep1(sv) => {
                let sv = StateVector::decode_v1(sv).expect("server state vector");
                let diff = self.doc.transact().encode_diff_v1(&sv);
                self.send_raw(message::encode_sync_step2(&diff)).await;
                self.server_step1_seen = true;
            }
            ClientMessage::SyncStep2(update) => {
                self.apply(update);
                self.synced = true;
            }
            ClientMessage::Update(update) => self.apply(update),
            ClientMessage::Awareness(payload) => {
                for entry in parse_awareness_update(payload).expect("awareness decodes") {
                    self.awareness
                        .insert(entry.client_id, entry.state_json.to_owned());
                }
            }
            ClientMessage::QueryAwareness | ClientMessage::Auth => {}
        }
    }

    fn apply(&self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("server update decodes");
        self.doc
            .transact_mut()
            .apply_update(update)
            .expect("server update applies");
    }

    /// Reads until the socket ends; returns how.
    pub async fn ended(&mut self) -> Ended {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("socket ended in time");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => return Ended::Closed(frame.code.into()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Ended::Dropped,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Length in bytes of the root text `name` (cheap, unlike [`content_of`]).
    pub fn text_len(&self, name: &str) -> usize {
        use yrs::GetString;
        let text = self.doc.get_or_insert_text(name);
        let len = text.get_string(&self.doc.transact()).len();
        len
    }

    /// The whole replica as one v1 update (for comparing replicas).
    pub fn state(&self) -> Vec<u8> {
        self.doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Sets `map[key] = true` on `writer` and waits until `watcher` has it; returns
/// the time from send to arrival.
pub async fn round_trip(
    writer: &mut SyncClient,
    watcher: &mut SyncClient,
    key: &str,
) -> std::time::Duration {
    use yrs::{Map, WriteTxn};
    let sent = key.to_owned();
    let started = std::time::Instant::now();
    writer
        .edit(move |txn| {
            txn.get_or_insert_map("map").insert(txn, sent, true);
        })
        .await;
    let map = watcher.doc.get_or_insert_map("map");
    watcher
        .wait_for(|c| map.get(&c.doc.transact(), key).is_some())
        .await;
    started.elapsed()
}

/// Reads a document's JSON-like content for comparisons.
pub fn content_of(update: &[u8]) -> serde_json::Value {
    use yrs::{types::ToJson, GetString};
    let doc = Doc::new();
    doc.transact_mut()
        .apply_update(Update::decode_v1(update).expect("decodes"))
        .expect("applies");
    let map = doc.get_or_insert_map("map");
    let text = doc.get_or_insert_text("text");
    let array = doc.get_or_insert_array("array");
    let txn = doc.transact();
    serde_json::json!({
        "map": serde_json::to_value(map.to_json(&txn)).expect("map json"),
        "text": text.get_string(&txn),
        "array": serde_json::to_value(array.to_json(&txn)).expect("array json"),
    })
}

/// Connects over a socket with a tiny receive buffer and completes the
/// handshake; the caller then stops reading to play a client that cannot keep up.
pub async fn connect_with_small_receive_buffer(
    url: &str,
    addr: std::net::SocketAddr,
) -> SyncClient {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("tcp connect");
    let (socket, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgrade");
    let mut client = SyncClient {
        socket,
        doc: Doc::new(),
        awareness: Default::default(),
        denied: Vec::new(),
        server_step1_seen: false,
        synced: false,
    };
    client.handshake().await;
    client
}
