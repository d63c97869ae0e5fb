//! The server side of RFC 6455, just what the sync endpoint needs: the upgrade
//! handshake, a reader that yields whole messages, an outbox that frames
//! payloads as they are queued, and a writer that sends an outbox in one write.
//!
//! Why not a general WebSocket library: a broadcast hands the same payload to
//! every socket on a board, and a general library turns each send into a
//! message object, a frame, a buffer copy and a flush. Here a recipient's cost
//! is a header and one copy into its outbox, which is most of what a delivery
//! costs the server. Server frames are never masked and no extension is
//! negotiated, so that is all the framing there is.

mod connection;
mod frame;
mod outbox;
mod reader;
mod upgrade;
mod writer;

pub use connection::{ReadArrived, SocketRead, SocketWrite};
pub use frame::ProtocolError;
pub use outbox::Outbox;
pub use reader::{ArrivedMessages, Incoming, MessageReader, ReadError};
pub use upgrade::{UpgradeRejection, WebSocketUpgrade, VERSION};
pub use writer::FrameWriter;

/// An accepted WebSocket, split so that reading and writing run on their own tasks.
#[derive(Debug)]
pub struct WebSocket {
    /// Messages from the client.
    pub reader: MessageReader<SocketRead>,
    /// Frames to the client.
    pub writer: FrameWriter<SocketWrite>,
}
