//! The reading side of a sync socket: hands each message the client sends to
//! its board's [`Session`], checking the message rate, answering pings, and
//! closing the socket (with the reason's metric label) for what it refuses.

use std::{ops::ControlFlow, sync::Arc, time::Duration};

use tokio::task::JoinHandle;

use super::{
    close::{close_code, close_text},
    SocketSettings, CLOSE_TIMEOUT,
};
use crate::{
    board_service::{session::Session, CloseReason},
    metrics,
    throttle::MessageLimiter,
    websocket::{Incoming, MessageReader, ReadArrived, ReadError},
};

/// Reads until the socket closes, then leaves the board and waits (boundedly)
/// for `writer` to send what is queued and the close frame.
pub(super) async fn run_socket<R: ReadArrived>(
    mut reader: MessageReader<R>,
    mut session: Session,
    mut writer: JoinHandle<()>,
    settings: SocketSettings,
) {
    metrics::ws_open(1.0);
    let peer = Arc::clone(session.peer());
    let idle_timeout = settings.idle_timeout;
    let rate = MessageLimiter::per_second(settings.messages_per_sec);
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
        metrics::ws_closed(close_code(reason));
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
        // others is held back only up to the session's bound (the rest goes
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
        code = close_code(reason), reason = label, "closing socket: {}", close_text(reason));
    session.peer().close(reason);
}
