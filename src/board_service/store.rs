//! Where board snapshots are loaded from and saved to. The service only needs
//! these two calls, so tests can put a failing store in front of it.

use std::{future::Future, pin::Pin};

use uuid::Uuid;

use crate::db::{Db, DbError};

/// A boxed future, so the trait stays object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DbError>> + Send + 'a>>;

/// Loads and saves compacted board snapshots.
pub trait BoardStore: Send + Sync + 'static {
    /// The stored snapshot, or `None` when the board was never saved.
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<Vec<u8>>>;
    /// Replaces the stored snapshot. [`DbError::NotFound`] when the board is gone.
    fn save(&self, board_id: Uuid, state: Vec<u8>) -> StoreFuture<'_, ()>;
}

impl BoardStore for Db {
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(self.load_board_state(board_id))
    }

    fn save(&self, board_id: Uuid, state: Vec<u8>) -> StoreFuture<'_, ()> {
        Box::pin(self.save_board_state(board_id, state))
    }
}
