//! One y-protocols client socket: connect (with the Hocuspocus auth message when
//! that framing is on), send framed messages, read server messages, and the
//! sync handshake.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{self, protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};
use yrs::{updates::decoder::Decode, Doc, ReadTxn, StateVector, Transact};

use crate::proto::{Framing, Incoming, EMPTY_UPDATE};

/// Longest any single wait for the server may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// Initial read buffer of each socket (it grows for larger messages).
const READ_BUFFER: usize = 16 * 1024;

/// Where one document lives and how to talk to it.
#[derive(Debug, Clone)]
pub struct Room {
    /// Board id or room name.
    pub id: String,
    /// The full WebSocket URL, query included.
    pub url: String,
    pub framing: Framing,
    /// Token for the Hocuspocus auth message.
    pub auth_token: String,
}

/// A connected socket.
pub struct Conn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    framing: Framing,
}

/// A frame as read: binary payloads, or the end of the socket.
pub enum Read {
    Binary(Bytes),
    /// Closed by the server (close code, if any) or dropped.
    Ended(Option<u16>),
}

/// Whether a connect error is the per-process open file limit.
pub fn is_emfile(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            == Some(24)
            || matches!(cause.downcast_ref::<tungstenite::Error>(),
                Some(tungstenite::Error::Io(io)) if io.raw_os_error() == Some(24))
    })
}

impl Conn {
    /// Opens the socket (Nagle off) and, for Hocuspocus, sends the auth message.
    pub async fn connect(room: &Room) -> anyhow::Result<Self> {
        // tungstenite zero-fills its whole read buffer (128 KiB by default)
        // before each read: a small one keeps thousands of sockets cheap here.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let connecting = connect_async_with_config(room.url.as_str(), Some(config), true);
        let (ws, _) = match tokio::time::timeout(WAIT, connecting).await {
            Err(_) => bail!("connect timed out"),
            Ok(Err(tungstenite::Error::Http(response))) => {
                bail!("upgrade refused: HTTP {}", response.status())
            }
            Ok(result) => result.context("connect")?,
        };
        let mut conn = Self {
            ws,
            framing: room.framing.clone(),
        };
        if let Some(auth) = room.framing.auth(&room.auth_token) {
            conn.send(auth).await?;
        }
        Ok(conn)
    }

    pub fn framing(&self) -> &Framing {
        &self.framing
    }

    /// Sends one already framed message.
    pub async fn send(&mut self, frame: Vec<u8>) -> anyhow::Result<()> {
        self.ws
            .send(Message::Binary(Bytes::from(frame)))
            .await
            .context("send")
    }

    /// Reads the next binary frame (pings are answered by the library).
    pub async fn read(&mut self) -> Read {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(frame))) => return Read::Binary(frame),
                Some(Ok(Message::Close(frame))) => {
                    return Read::Ended(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Read::Ended(None),
            }
        }
    }

    /// Sends our step 1 (state vector of `doc`, or empty) and reads until the
    /// server's step 2 arrives; answers the server's step 1 on the way. Returns
    /// the step 2 update.
    pub async fn handshake(&mut self, doc: Option<&Doc>) -> anyhow::Result<Bytes> {
        let sv = match doc {
            Some(doc) => {
                use yrs::updates::encoder::Encode;
                doc.transact().state_vector().encode_v1()
            }
            None => vec![0],
        };
        let step1 = self.framing.step1(&sv);
        self.send(step1).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.read()).await {
                Err(_) => bail!("no sync step 2 within {WAIT:?}"),
                Ok(Read::Ended(code)) => bail!("socket ended during the handshake ({code:?})"),
                Ok(Read::Binary(frame)) => frame,
            };
            match self.framing.parse(&frame) {
                Some(Incoming::Step2(update)) => return Ok(frame.slice_ref(update)),
                Some(Incoming::Step1(server_sv)) => {
                    let reply = self.step2_for(doc, server_sv)?;
                    self.send(reply).await?;
                }
                Some(Incoming::Denied(reason)) => bail!("permission denied: {reason}"),
                Some(_) => {}
                None => bail!("undecodable server message"),
            }
        }
    }

    /// Our answer to the server's step 1: what `doc` has that the server lacks.
    pub fn step2_for(&self, doc: Option<&Doc>, server_sv: &[u8]) -> anyhow::Result<Vec<u8>> {
        let diff = match doc {
            Some(doc) => {
                let sv = StateVector::decode_v1(server_sv)
                    .map_err(|err| anyhow!("server state vector: {err}"))?;
                doc.transact().encode_diff_v1(&sv)
            }
            None => EMPTY_UPDATE.to_vec(),
        };
        Ok(self.framing.step2(&diff))
    }

    /// Closes politely, waiting briefly for the server's close.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}
