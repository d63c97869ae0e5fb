//! Where board snapshots are loaded from and saved to. The service only needs
//! these two calls, so tests can put an in-memory or failing store in front of
//! it; the database layer implements it. (The journal's rows go through
//! `journal::JournalStore`.)

use std::{future::Future, pin::Pin};

use uuid::Uuid;

use super::journal::Compaction;

/// Why a store call failed, in the terms the board service acts on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The board does not exist (any more).
    #[error("not found")]
    NotFound,
    /// The store cannot be reached now; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("store failed: {0}")]
    Other(String),
}

/// A boxed future, so the trait stays object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A stored snapshot and the version it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// The snapshot: a Yjs v1 update.
    pub state: Vec<u8>,
    /// Counts the writes of this board's snapshot; 0 means never saved.
    pub version: i64,
}

/// What [`BoardStore::save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written as this version.
    Saved { version: i64 },
    /// Someone else saved since the version the caller named: nothing was
    /// written, and this is what is stored now. Merge it and save again.
    Conflict(StoredState),
}

/// Loads and saves compacted board snapshots.
pub trait BoardStore: Send + Sync + 'static {
    /// The stored snapshot and its version, or `None` when the board was never
    /// saved.
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>>;
    /// Replaces the stored snapshot if it is still `expected_version` (0: none)
    /// and, in the same transaction, removes the journal rows it covers;
    /// otherwise returns the stored one to merge. [`StoreError::NotFound`]
    /// when the board is gone. `authors` are the users whose edits the
    /// snapshot covers since the last successful save (noted for the next
    /// version in the same transaction).
    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome>;
}
