//! `GET /api/v1/boards/{id}/sync`: the y-websocket endpoint.
//!
//! Everything is checked before the upgrade (token, membership, the board
//! loads), so a refused client gets a plain HTTP error and no socket. After the
//! upgrade this file only moves messages: a reader loop hands binary messages
//! to the board's [`Session`], and a writer task drains the socket's bounded
//! queue, pings, and sends the close frame the board service decided on. The
//! framing itself is in [`crate::websocket`].

use std::{net::SocketAddr, ops::ControlFlow, sync::Arc, time::Duration};

use axum::{
    extract::{ConnectInfo, State},
    http::HeaderMap,
    response::Response,
};
use bytes::Bytes;
use serde::Deserialize;
use tokio::{io::AsyncWrite, task::JoinHandle};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{account_exists, bearer_token, verify_token},
    board_service::{session::Session, Batch, CloseFrame, CloseReason, Peer, WriterStep},
    db::Role,
    error::{AppError, ErrorBody},
    extract::{Path, Query},
    metrics,
    throttle::MessageLimiter,
    websocket::{
        FrameWriter, Incoming, MessageReader, ReadArrived, ReadError, UpgradeRejection,
        WebSocketUpgrade,
    },
};

/// How long a close frame may take to reach a client before the connection is
/// dropped (a slow client first has to read what was already written to it).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Query parameters of the sync route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncParams {
    /// The bearer token, for browsers, which cannot set headers on a WebSocket.
    pub token: Option<String>,
}

/// Opens a live sync socket on a board (y-websocket protocol, binary frames).
///
/// Use the stock `y-websocket` `WebsocketProvider` with `serverUrl =
/// ws://HOST/api/v1/boards`, `roomname = <id>/sync`, `params = {token}`. Close codes:
/// 1001 server shutting down, 1002 WebSocket protocol error (RFC 6455), 1003
/// text message (the protocol is binary), 1007 undecodable frame, rejected
/// update or a close reason that is not UTF-8, 1008 policy violation, 1009
/// message over `MAX_MESSAGE_BYTES`, 1013 client too slow (reconnect to
/// resync), 4403 membership removed, 4404 board deleted. Viewers
/// receive everything but their edits are answered with an auth permission-denied
/// message `read-only`.
#[utoipa::path(
    get,
    path = "/boards/{id}/sync",
    tag = "sync",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Board id"), SyncParams),
    responses(
        (status = 101, description = "Switching to the WebSocket sync protocol"),
        (status = 400, description = "Not a WebSocket upgrade request, or its Sec-WebSocket-Key is not 16 bytes in base64", body = ErrorBody),
        (status = 401, description = "Missing, malformed, expired or wrongly signed token", body = ErrorBody),
        (status = 404, description = "No such board, or not shared with the caller", body = ErrorBody),
        (status = 426, description = "Sec-WebSocket-Version is not 13 (code `upgrade_required`)", body = ErrorBody,
            headers(("Sec-WebSocket-Version" = String, description = "`13`, the only version spoken"))),
        (status = 429, description = "Too many upgrades from this client IP (RATE_WS_CONNECT_PER_MIN); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down, or the board cannot be loaded now", body = ErrorBody),
    )
)]
pub async fn sync_board(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(board_id): Path<Uuid>,
    Query(params): Query<SyncParams>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, UpgradeRejection>,
) -> Result<Response, AppError> {
    if let Some(limiter) = &state.ws_connect_limiter {
        let ip = state.client_ip(peer, &headers);
        if let Err(retry_after) = limiter.check(ip) {
            metrics::rate_limited("ws_connect");
            tracing::info!(client.ip = %ip, "WebSocket upgrades over the limit");
            return Err(AppError::TooManyRequests(retry_after.as_secs()));
        }
    }
    let token = match bearer_token(&headers)? {
        Some(token) => token,
        None => params
            .token
            .as_deref()
            .ok_or(AppError::Unauthorized("missing token"))?,
    };
    // Read before access is checked: see `recheck_access` below.
    let access_epoch = state.live.access_epoch();
    let user_id = verify_token(&state, token)?;
    // One query on the common path: a membership implies its account exists
    // (memberships are deleted with their account). Only a refusal has to say
    // which it is: 401 for a deleted account, 404 otherwise.
    let role = match state.db.find_board_for(board_id, user_id).await? {
        Some(board) => board.role,
        None => {
            account_exists(&state, user_id).await?;
            return Err(AppError::NotFound("board not found"));
        }
    };
    let upgrade = upgrade.map_err(|err| match err {
        UpgradeRejection::UnsupportedVersion => AppError::UnsupportedWebSocketVersion,
        err => AppError::BadRequest(format!("expected a WebSocket upgrade: {err}")),
    })?;
    let lease = state.live.open(board_id).await?;
    let max = state.config.max_message_bytes;
    let thread = state.board_threads.for_board(board_id).clone();
    Ok(upgrade
        .max_message_size(max)
        .on_thread(thread)
        .on_upgrade(move |socket| {
            let (reader, writer) = (socket.reader, socket.writer);
            let live = state.live.clone();
            live.track_socket(async move {
                tracing::debug!(board.id = %board_id, user.id = %user_id, "socket opened");
                let session = Session::start(&state.live, lease, user_id, role).await;
                if state.live.access_epoch() != access_epoch {
                    // Boxed (in its own statement, or the temporary keeps its
                    // room): a database call's future is larger than the whole
                    // socket loop, and this future keeps room for its largest part.
                    let recheck = Box::pin(recheck_access(&state, &session, board_id, role));
                    recheck.await;
                }
                let writer = tokio::spawn(write_loop(
                    writer,
                    Arc::clone(session.peer()),
                    state.config.ws_ping_interval,
                ));
                run_socket(reader, session, writer, &state).await;
            })
        }))
}

/// Membership may have changed between the check before the upgrade and the
/// socket joining its board, when a removal or deletion could not reach it yet:
/// look once more now that it is reachable. Only needed when the board service
/// heard of such a change meanwhile (its access epoch moved): one that comes
/// after the socket joined reaches the socket itself.
async fn recheck_access(state: &AppState, session: &Session, board_id: Uuid, role: Role) {
    let user_id = session.peer().user_id;
    match state.db.find_board_for(board_id, user_id).await {
        Ok(Some(board)) if board.role != role => session.peer().set_role(board.role),
        Ok(Some(_)) | Err(_) => {}
        Ok(None) => {
            let reason = match state.db.board_exists(board_id).await {
                Ok(false) => CloseReason::BoardDeleted,
                _ => CloseReason::MemberRemoved,
            };
            session.peer().close(reason);
        }
    }
}

async fn run_socket<R: ReadArrived>(
    mut reader: MessageReader<R>,
    mut session: Session,
    mut writer: JoinHandle<()>,
    state: &AppState,
) {
    metrics::ws_open(1.0);
    let peer = Arc::clone(session.peer());
    let idle_timeout = state.config.ws_idle_timeout;
    let rate = MessageLimiter::per_second(state.config.rate_ws_msgs_per_sec);
    loop {
        // What the client's messages sent to the others is held while its
        // next message is already here, so a burst goes out together (see
        // `Session::flush`); never while waiting for the network.
        if !reader.has_buffered_frame() || session.wants_flush() {
            session.flush();
        }
        tokio::select! {
            biased;
            reason = peer.closed() => {
                if reason == CloseReason::GoingAway && session.is_on_board() {
                    // Boxed: needed once, at shutdown, and larger than the
                    // rest of this loop, which every idle socket carries.
                    let rate = rate.as_ref();
                    let draining = Box::pin(handle_arrived(&mut reader, &mut session, rate));
                    draining.await;
                }
                break;
            }
            next = tokio::time::timeout(idle_timeout, reader.next_message()) => match next {
                Err(_) => {
                    tracing::debug!(peer = peer.id, "socket idle past its timeout; dropping");
                    peer.close(CloseReason::GoingAway);
                    break;
                }
                Ok(read) => {
                    if handle_read(read, &mut session, rate.as_ref()).await.is_break() {
                        break;
                    }
                }
            }
        }
    }
    let reason = peer.close_reason();
    if let Some(reason) = reason {
        metrics::ws_closed(reason.code());
    }
    metrics::ws_open(-1.0);
    let closing = reason.is_some();
    // Leaving the board ends the writer once it has written what is queued
    // (or sent the close frame).
    drop(session);
    drop(peer);
    let wait = if closing {
        CLOSE_TIMEOUT
    } else {
        Duration::from_secs(1)
    };
    if tokio::time::timeout(wait, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Hands what a client sent before the server shut down to its board: the
/// messages among the bytes that have already arrived, read without ever
/// waiting for more (see [`MessageReader::arrived`]), so their edits are
/// journaled and saved before the socket leaves its board.
async fn handle_arrived<R: ReadArrived>(
    reader: &mut MessageReader<R>,
    session: &mut Session,
    rate: Option<&MessageLimiter>,
) {
    let mut arrived = reader.arrived();
    while let Some(read) = arrived.next_message().transpose() {
        if handle_read(read.map(Some), session, rate).await.is_break() {
            return;
        }
        // Nothing waits for the network here: what the frames sent to the
        // others is held back only up to the outbox's bound (the rest goes
        // when the session leaves its board).
        if session.wants_flush() {
            session.flush();
        }
    }
}

/// Handles what one read from the client brought; `Break` when the socket
/// is done with (closed by the client, or closed for what it sent).
async fn handle_read(
    read: Result<Option<Incoming>, ReadError>,
    session: &mut Session,
    rate: Option<&MessageLimiter>,
) -> ControlFlow<()> {
    let peer = session.peer();
    match read {
        Ok(None) => return ControlFlow::Break(()),
        Ok(Some(Incoming::Close(code))) => {
            peer.client_closed(code);
            return ControlFlow::Break(());
        }
        Ok(Some(Incoming::Binary(frame))) => {
            metrics::ws_message(metrics::Direction::In, &frame);
            if over_rate(rate, session) {
                return ControlFlow::Break(());
            }
            // Boxed: handling a frame can wait on the blocking pool, and
            // its future would otherwise double the socket loop's size,
            // which every idle socket carries.
            let handled = Box::pin(session.handle_frame(frame));
            if let Err(reason) = handled.await {
                reject(session, reason);
                return ControlFlow::Break(());
            }
        }
        Ok(Some(Incoming::Text)) => {
            reject(session, CloseReason::UnsupportedData);
            return ControlFlow::Break(());
        }
        Ok(Some(Incoming::Ping(payload))) => {
            // Pings count against the message rate: each costs a write.
            if over_rate(rate, session) {
                return ControlFlow::Break(());
            }
            peer.pong(payload);
        }
        Ok(Some(Incoming::Pong)) => {}
        Err(err) => {
            let reason = match err {
                ReadError::TooLarge(_) => CloseReason::TooLarge,
                ReadError::CloseReasonNotUtf8 => CloseReason::InvalidData,
                ReadError::TooFragmented => CloseReason::PolicyViolation,
                ReadError::Protocol(err) => {
                    tracing::debug!(peer = peer.id, %err, "WebSocket protocol error");
                    CloseReason::ProtocolError
                }
                ReadError::Io(err) => {
                    tracing::debug!(peer = peer.id, %err, "socket read failed");
                    return ControlFlow::Break(());
                }
            };
            reject(session, reason);
            return ControlFlow::Break(());
        }
    }
    ControlFlow::Continue(())
}

/// Counts one message against the socket's rate; over it, the socket is
/// closed (1008) and this says so.
fn over_rate(rate: Option<&MessageLimiter>, session: &Session) -> bool {
    let over = rate.is_some_and(|rate| !rate.allow());
    if over {
        reject(session, CloseReason::RateLimited);
    }
    over
}

/// Closes the session's socket for a refused frame, logging and counting why.
fn reject(session: &Session, reason: CloseReason) {
    let label = match reason {
        CloseReason::Hostile => "hostile",
        CloseReason::TooLarge => "too_large",
        CloseReason::RateLimited => "rate",
        CloseReason::PolicyViolation => "policy",
        CloseReason::AwarenessPolicy => "awareness",
        CloseReason::ProtocolError => "protocol",
        CloseReason::UnsupportedData => "unsupported",
        _ => "undecodable",
    };
    metrics::frame_rejected(label);
    tracing::info!(board.id = %session.board().id, peer = session.peer().id,
        code = reason.code(), reason = label, "closing socket: {}", reason.text());
    session.peer().close(reason);
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: FrameWriter<W>,
    peer: Arc<Peer>,
    ping_interval: Duration,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    let mut batch = Batch::default();
    // Whether the last write carried several frames: the socket is on a busy
    // board, where waiting a moment for more frames saves writes.
    let mut busy = false;
    loop {
        match peer.take_frames(&mut batch) {
            WriterStep::Write(pong) => {
                busy = batch.outbox.frames() > 1;
                if write_batch(&mut writer, &peer, pong, &mut batch)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            WriterStep::Close(frame) => {
                // Boxed: needed once, and larger than the rest of this loop.
                let closing = Box::pin(send_close(&mut writer, frame));
                closing.await;
                return;
            }
            WriterStep::Wait => {
                tokio::select! {
                    biased;
                    () = peer.writer_wakeup() => {
                        // A quiet socket (a handshake, a lone edit) writes
                        // at once; on a busy board, more frames are coming.
                        if busy {
                            gather_frames(&peer).await;
                        }
                    }
                    _ = ping.tick() => {
                        if writer.ping().await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The most times a busy socket's writer lets other tasks run before it writes.
const GATHER_YIELDS: usize = 16;

/// Lets the tasks that are ready now (other sockets' readers broadcasting)
/// queue their frames before this socket writes, so one write carries more of
/// them: each write costs the server a few microseconds of loopback TCP
/// whatever it carries. Yields again only while the last yield brought more
/// frames, and at most [`GATHER_YIELDS`] times.
async fn gather_frames(peer: &Peer) {
    let mut queued = peer.queued_frames();
    for _ in 0..GATHER_YIELDS {
        tokio::task::yield_now().await;
        let now = peer.queued_frames();
        if now == queued {
            return;
        }
        queued = now;
    }
}

/// Writes the pong and every frame of `batch` in one write (many frames per
/// system call when the board is busy).
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut FrameWriter<W>,
    peer: &Peer,
    pong: Option<Bytes>,
    batch: &mut Batch,
) -> std::io::Result<()> {
    let result = writer.write_outbox(pong.as_deref(), &batch.outbox).await;
    if result.is_ok() {
        batch.tally.flush(metrics::Direction::Out);
    }
    peer.written(batch);
    result
}

async fn send_close<W: AsyncWrite + Unpin>(writer: &mut FrameWriter<W>, frame: Option<CloseFrame>) {
    let closing = async {
        match frame {
            Some(frame) => writer.close(frame.code, frame.reason).await,
            None => writer.shutdown().await,
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use uuid::Uuid;

    use super::*;
    use crate::{board_service::QueueLimits, db::Role};

    fn peer() -> Arc<Peer> {
        let limits = QueueLimits {
            frames: 1024,
            bytes: 1 << 20,
        };
        Peer::new(Uuid::new_v4(), Role::Editor, limits)
    }

    /// Queues one frame to `peer` per turn of the scheduler, `turns` times.
    fn broadcaster(peer: &Arc<Peer>, turns: usize) -> tokio::task::JoinHandle<()> {
        let peer = Arc::clone(peer);
        tokio::spawn(async move {
            for _ in 0..turns {
                peer.send(Bytes::from_static(b"frame"));
                tokio::task::yield_now().await;
            }
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_writer_waits_while_frames_keep_coming_and_no_longer() {
        let peer = peer();
        let sender = broadcaster(&peer, 5);
        gather_frames(&peer).await;
        assert_eq!(peer.queued_frames(), 5, "every frame of the burst is in");
        assert!(sender.await.is_ok());

        // A burst longer than the bound is written in parts.
        let peer = self::peer();
        let sender = broadcaster(&peer, 3 * GATHER_YIELDS);
        gather_frames(&peer).await;
        let gathered = peer.queued_frames();
        assert!(
            (GATHER_YIELDS..=GATHER_YIELDS + 1).contains(&gathered),
            "the wait is bounded: {gathered} frames"
        );
        assert!(sender.await.is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_writer_with_nothing_coming_stops_after_one_turn() {
        let peer = peer();
        peer.send(Bytes::from_static(b"frame"));
        let quiet = tokio::spawn(async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        });
        gather_frames(&peer).await;
        assert!(!quiet.is_finished(), "gathering took one turn, not three");
        assert_eq!(peer.queued_frames(), 1);
        assert!(quiet.await.is_ok());
    }
}
