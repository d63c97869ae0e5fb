//! The server side of RFC 6455, just what the sync endpoint needs: the upgrade
//! handshake, a reader that yields whole messages, the header of a binary
//! frame (written by the sync transport as frames are queued), and a writer
//! that sends a socket's queued bytes in one write.
//!
//! Why not a general WebSocket library: a broadcast hands the same payload to
//! every socket on a board, and a general library turns each send into a
//! message object, a frame, a buffer copy and a flush. Here a recipient's cost
//! is a header and one copy into its queue, which is most of what a delivery
//! costs the server. Server frames are never masked and no extension is
//! negotiated, so that is all the framing there is.

mod connection;
mod frame;
mod reader;
mod upgrade;
mod writer;

pub use connection::{ReadArrived, SocketRead, SocketWrite};
pub use frame::{write_binary_header, MAX_HEADER_LEN};
pub use reader::{Incoming, MessageReader, ReadError};
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
