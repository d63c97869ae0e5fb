//! A sync socket's life after the upgrade: the transport between one
//! WebSocket and its board's [`Session`].
//!
//! The sync controller (`crate::controllers::sync`) authorizes and upgrades,
//! then hands the socket and its session to [`run`]. From there a read loop
//! ([`read_loop`]) hands the client's messages to the session, checking their
//! rate and labelling what it refuses, and a write loop ([`write_loop`]) on its
//! own task drains the socket's queue, gathers frames on a busy board, pings,
//! and sends the close frame the board decided on ([`close`] maps the board's
//! reasons to close codes). The board service frames what it queues with
//! [`BinaryFrames`], given to it at start. The framing itself is in
//! [`crate::websocket`].

pub mod close;
mod read_loop;
mod wire;
mod write_loop;

use std::{future::Future, sync::Arc, time::Duration};

pub use wire::BinaryFrames;

use crate::{board_service::session::Session, websocket::WebSocket};

/// How long a close frame may take to reach a client before the connection is
/// dropped (a slow client first has to read what was already written to it).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The tunables of a sync socket.
#[derive(Debug, Clone, Copy)]
pub struct SocketSettings {
    /// A socket that sends nothing for this long is dropped.
    pub idle_timeout: Duration,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// Messages a client may send per second (0: no limit).
    pub messages_per_sec: u32,
}

/// Runs the socket of `session` until it closes: starts the writer on its own
/// task now, and returns the reader, to be awaited on this one; that resolves
/// once the socket has left its board and its writer has finished (or was
/// given up on).
///
/// Not an `async fn`: its arguments would then be kept in the socket's future
/// beside the reader's, which every idle socket carries.
pub fn run(
    socket: WebSocket,
    session: Session,
    settings: SocketSettings,
) -> impl Future<Output = ()> + Send {
    let writer = tokio::spawn(write_loop::write_loop(
        socket.writer,
        Arc::clone(session.peer()),
        settings.ping_interval,
    ));
    read_loop::run_socket(socket.reader, session, writer, settings)
}
