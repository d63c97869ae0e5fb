//! One connected socket as the board service sees it: who it is, what it may do,
//! its bounded outbound queue, and the signal that closes it.

use std::sync::{
    atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Arc,
};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::db::Role;

/// Why the server closes a socket; each maps to a WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1007: a frame did not decode or yrs rejected its update.
    InvalidData,
    /// 1007: the payload guard refused a Yjs payload (bad lengths, counts, nesting).
    Hostile,
    /// 1008: a policy was broken (e.g. too many awareness clients).
    PolicyViolation,
    /// 1008: more messages than `RATE_WS_MSGS_PER_SEC` allows.
    RateLimited,
    /// 1009: a message larger than `MAX_MESSAGE_BYTES`.
    TooLarge,
    /// 1011: the server failed (e.g. the board could not be loaded).
    InternalError,
    /// 1013: the client could not keep up with its board's traffic.
    SlowClient,
    /// 4403: the user's membership of the board was removed.
    MemberRemoved,
    /// 4404: the board was deleted.
    BoardDeleted,
}

impl CloseReason {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Self::GoingAway => 1001,
            Self::InvalidData | Self::Hostile => 1007,
            Self::PolicyViolation | Self::RateLimited => 1008,
            Self::TooLarge => 1009,
            Self::InternalError => 1011,
            Self::SlowClient => 1013,
            Self::MemberRemoved => 4403,
            Self::BoardDeleted => 4404,
        }
    }

    /// The close frame's reason text.
    pub fn text(self) -> &'static str {
        match self {
            Self::GoingAway => "server shutting down",
            Self::InvalidData | Self::Hostile => "invalid message",
            Self::PolicyViolation => "policy violation",
            Self::RateLimited => "message rate exceeded",
            Self::TooLarge => "message too large",
            Self::InternalError => "internal error",
            Self::SlowClient => "client too slow; reconnect to resync",
            Self::MemberRemoved => "removed from board",
            Self::BoardDeleted => "board deleted",
        }
    }
}

/// How much a socket may have queued before it counts as too slow.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Frames waiting to be written.
    pub frames: usize,
    /// Bytes waiting to be written.
    pub bytes: usize,
}

static NEXT_PEER_ID: AtomicU64 = AtomicU64::new(1);

/// The board-side handle of one socket.
#[derive(Debug)]
pub struct Peer {
    /// Unique within the process.
    pub id: u64,
    /// The authenticated user.
    pub user_id: Uuid,
    role: AtomicU8,
    outbound: mpsc::Sender<Bytes>,
    queued_bytes: Arc<AtomicUsize>,
    max_queued_bytes: usize,
    close: watch::Sender<Option<CloseReason>>,
}

/// The socket-side ends of a [`Peer`]: frames to write and the close signal.
#[derive(Debug)]
pub struct PeerChannels {
    /// Frames to write, in order.
    pub outbound: mpsc::Receiver<Bytes>,
    /// Set once when the server decides to close the socket.
    pub close: watch::Receiver<Option<CloseReason>>,
    /// Decrement by a frame's length once it is written.
    pub queued_bytes: Arc<AtomicUsize>,
}

impl Peer {
    /// A new peer and the channels its socket task drives.
    pub fn new(user_id: Uuid, role: Role, limits: QueueLimits) -> (Arc<Self>, PeerChannels) {
        let (outbound_tx, outbound_rx) = mpsc::channel(limits.frames.max(1));
        let (close_tx, close_rx) = watch::channel(None);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let peer = Arc::new(Self {
            id: NEXT_PEER_ID.fetch_add(1, Ordering::Relaxed),
            user_id,
            role: AtomicU8::new(encode_role(role)),
            outbound: outbound_tx,
            queued_bytes: Arc::clone(&queued_bytes),
            max_queued_bytes: limits.bytes,
            close: close_tx,
        });
        let channels = PeerChannels {
            outbound: outbound_rx,
            close: close_rx,
            queued_bytes,
        };
        (peer, channels)
    }

    /// The user's current role on the board (it can change while connected).
    pub fn role(&self) -> Role {
        decode_role(self.role.load(Ordering::Acquire))
    }

    /// Changes the role of a live socket.
    pub fn set_role(&self, role: Role) {
        self.role.store(encode_role(role), Ordering::Release);
    }

    /// Queues a frame without waiting. A socket whose queue is full is closed
    /// with 1013 rather than buffered without bound or silently skipped.
    pub fn send(&self, frame: Bytes) -> bool {
        if self.is_closing() {
            return false;
        }
        let len = frame.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len;
        // One frame larger than the byte budget still goes through when the
        // queue is otherwise empty: a big board must reach a client that keeps up.
        if queued > self.max_queued_bytes && queued != len {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.close(CloseReason::SlowClient);
            return false;
        }
        match self.outbound.try_send(frame) {
            Ok(()) => true,
            Err(_) => {
                self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                self.close(CloseReason::SlowClient);
                false
            }
        }
    }

    /// Asks the socket to close with `reason`; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.close.borrow().is_some()
    }
}

fn encode_role(role: Role) -> u8 {
    match role {
        Role::Owner => 0,
        Role::Editor => 1,
        Role::Viewer => 2,
    }
}

fn decode_role(value: u8) -> Role {
    match value {
        0 => Role::Owner,
        1 => Role::Editor,
        _ => Role::Viewer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(frames: usize, bytes: usize) -> QueueLimits {
        QueueLimits { frames, bytes }
    }

    #[test]
    fn a_full_frame_queue_closes_the_socket_as_slow() {
        let (peer, channels) = Peer::new(Uuid::new_v4(), Role::Editor, limits(2, 1 << 20));
        assert!(peer.send(Bytes::from_static(b"a")));
        assert!(peer.send(Bytes::from_static(b"b")));
        assert!(!peer.send(Bytes::from_static(b"c")));
        assert_eq!(*channels.close.borrow(), Some(CloseReason::SlowClient));
        assert!(
            !peer.send(Bytes::from_static(b"d")),
            "nothing queued after close"
        );
    }

    #[test]
    fn queued_bytes_over_budget_close_the_socket() {
        let (peer, channels) = Peer::new(Uuid::new_v4(), Role::Editor, limits(100, 10));
        assert!(
            peer.send(Bytes::from(vec![0; 20])),
            "a lone large frame passes"
        );
        assert!(!peer.send(Bytes::from(vec![0; 1])));
        assert_eq!(*channels.close.borrow(), Some(CloseReason::SlowClient));
    }

    #[test]
    fn the_first_close_reason_wins_and_roles_change_live() {
        let (peer, channels) = Peer::new(Uuid::new_v4(), Role::Editor, limits(4, 100));
        peer.set_role(Role::Viewer);
        assert_eq!(peer.role(), Role::Viewer);
        peer.close(CloseReason::MemberRemoved);
        peer.close(CloseReason::GoingAway);
        assert_eq!(*channels.close.borrow(), Some(CloseReason::MemberRemoved));
    }
}
