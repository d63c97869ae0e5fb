//! The hook through which each successful save tells whoever listens which
//! board it wrote and whose edits it covered: [`SaveObserver`], set once on
//! the service with `BoardService::set_save_observer` (none by default).

use uuid::Uuid;

/// What one successful save wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBoard {
    /// The board saved.
    pub board_id: Uuid,
    /// The users whose updates, accepted by this process since its previous
    /// successful save of the board, this save wrote (sockets' users and REST
    /// callers; updates relayed from other instances carry none).
    pub authors: Vec<Uuid>,
}

/// Told of every successful save, after its transaction committed. Called on
/// the board's save task: it must return at once (queue work elsewhere).
pub trait SaveObserver: Send + Sync + 'static {
    /// One save committed.
    fn board_saved(&self, saved: &SavedBoard);
}
