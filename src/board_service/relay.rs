//! The hook through which what happens on this process's boards reaches other
//! processes serving the same boards (see `crate::cluster`). The service works
//! the same without one; a relay only ever sees changes accepted here, never
//! ones it delivered itself, so nothing loops.

use bytes::Bytes;
use uuid::Uuid;

use crate::role::Role;

/// A change of who may use a board, which every process must apply to its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessEvent {
    /// The board was deleted: its sockets close with 4404.
    BoardDeleted(Uuid),
    /// A member was removed: their sockets on the board close with 4403.
    MemberRemoved {
        /// The board.
        board_id: Uuid,
        /// The removed member.
        user_id: Uuid,
    },
    /// A member's role changed: their sockets on the board follow at once.
    RoleChanged {
        /// The board.
        board_id: Uuid,
        /// The member.
        user_id: Uuid,
        /// The new role.
        role: Role,
    },
    /// An account was deleted: its sockets on every board close with 4403.
    UserRemoved(Uuid),
}

/// Receives this process's accepted changes. Every method is called on the
/// hot path (some with board locks released, none awaiting): implementations
/// must return at once and never block.
pub trait Relay: Send + Sync + std::fmt::Debug + 'static {
    /// A board was loaded into memory (its first lease).
    fn board_loaded(&self, board_id: Uuid);
    /// A board left memory (unloaded or deleted).
    fn board_unloaded(&self, board_id: Uuid);
    /// A Yjs v1 update from a local socket or REST call changed the board.
    fn update(&self, board_id: Uuid, update: &Bytes);
    /// An awareness payload from a local socket was accepted, or a local
    /// socket's states were removed when it closed.
    fn awareness(&self, board_id: Uuid, payload: &Bytes);
    /// Access to a board changed here.
    fn access(&self, event: &AccessEvent);
    /// Whether this process should save the board now: false while another
    /// process serving it too is its saver (this one's accepted changes reach
    /// that save through the relay and the journal).
    fn may_save(&self, _board_id: Uuid) -> bool {
        true
    }
}
