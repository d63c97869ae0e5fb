//! Where board snapshots are loaded from and saved to. The service only needs
//! these two calls, so tests can put a failing store in front of it. (The
//! journal's rows go through `journal::JournalStore`.)

use std::{future::Future, pin::Pin};

use uuid::Uuid;

use super::journal::Compaction;
use crate::db::{Db, DbError, SaveOutcome, StoredState};

/// A boxed future, so the trait stays object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DbError>> + Send + 'a>>;

/// Loads and saves compacted board snapshots.
pub trait BoardStore: Send + Sync + 'static {
    /// The stored snapshot and its version, or `None` when the board was never
    /// saved.
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>>;
    /// Replaces the stored snapshot if it is still `expected_version` (0: none)
    /// and, in the same transaction, removes the journal rows it covers;
    /// otherwise returns the stored one to merge. [`DbError::NotFound`] when
    /// the board is gone. `authors` are the users whose edits the snapshot
    /// covers since the last successful save (noted for the next version in
    /// the same transaction).
    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome>;
}

impl BoardStore for Db {
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>> {
        Box::pin(self.load_board_state(board_id))
    }

    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome> {
        Box::pin(self.save_board_state(board_id, state, expected_version, compaction, authors))
    }
}
