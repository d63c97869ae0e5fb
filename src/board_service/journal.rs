//! The journal's interface: where every update this instance accepts is
//! appended (within milliseconds, by [`super::group_commit`]) so that a crash
//! loses none of them, and how a save says which rows its snapshot covers.
//!
//! The board core knows rows only as ids and bytes; the database layer
//! implements [`JournalStore`].
//! A row holds one or more Yjs v1 updates of one board, written by one group
//! commit, each preceded by its length as a lib0 varUint ([`frame_update`]).

use std::{future::Future, pin::Pin};

use uuid::Uuid;

use crate::protocol::lib0;

/// Why the journal could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// The database could not be reached.
    #[error("journal unavailable: {0}")]
    Unavailable(String),
    /// The write or read failed for another reason.
    #[error("journal failed: {0}")]
    Failed(String),
    /// Too much is waiting for the writer (the database is slow or down).
    #[error("the journal queue is full")]
    Full,
    /// The board was deleted before its update was written.
    #[error("the board no longer exists")]
    BoardGone,
    /// The writer has stopped (shutdown).
    #[error("the journal writer has stopped")]
    Stopped,
}

/// A boxed future, so the trait stays object-safe.
pub type JournalFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// One row to append: a board's updates of one group commit, framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJournalRow {
    /// The board the updates belong to.
    pub board_id: Uuid,
    /// The updates, each framed by [`frame_update`].
    pub updates: Vec<u8>,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    /// The row's id: rows of one writer are numbered in commit order.
    pub id: i64,
    /// The row's updates, each framed by [`frame_update`].
    pub updates: Vec<u8>,
}

/// Which journal rows a save's snapshot covers: deleted (or marked kept
/// aside) in the transaction that writes the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    /// This process's instance id (the `instance_id` of the rows it wrote).
    pub instance: Uuid,
    /// Own rows of the board with an id up to this one are covered (0: none).
    pub own_up_to: i64,
    /// Rows written by other processes, read and merged into the document.
    pub merged: Vec<i64>,
    /// Rows that did not decode: kept, but never replayed again.
    pub kept_aside: Vec<i64>,
}

impl Compaction {
    /// Whether the save touches no journal row.
    pub fn is_empty(&self) -> bool {
        self.own_up_to <= 0 && self.merged.is_empty() && self.kept_aside.is_empty()
    }
}

/// Stores journal rows.
pub trait JournalStore: Send + Sync + 'static {
    /// Appends `rows` as `instance`'s in one transaction (committed when the
    /// future resolves `Ok`). Rows of boards that no longer exist are skipped.
    /// Returns, for each board written, the highest id of `instance`'s rows of
    /// that board.
    fn append(
        &self,
        instance: Uuid,
        rows: Vec<NewJournalRow>,
    ) -> JournalFuture<'_, Vec<(Uuid, i64)>>;

    /// A board's rows that are not kept aside, in id order; `except` leaves
    /// out that instance's rows.
    fn read(&self, board_id: Uuid, except: Option<Uuid>) -> JournalFuture<'_, Vec<JournalRow>>;

    /// Whether the board has rows [`Self::read`] would return (with no
    /// `except`): asked beside the snapshot read at load, so a snapshot with
    /// rows to replay into it is decoded while the rows are still read.
    fn has_rows(&self, board_id: Uuid) -> JournalFuture<'_, bool>;
}

/// Appends `update` to a row's payload.
pub fn frame_update(out: &mut Vec<u8>, update: &[u8]) {
    lib0::write_var_u64(out, update.len() as u64);
    out.extend_from_slice(update);
}

/// The updates of a row's payload, or `None` when its framing is broken (or
/// it holds none).
pub fn unframe_updates(payload: &[u8]) -> Option<Vec<&[u8]>> {
    let mut cursor = lib0::Cursor::new(payload);
    let mut updates = Vec::new();
    while !cursor.is_empty() {
        updates.push(cursor.var_bytes()?);
    }
    (!updates.is_empty()).then_some(updates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_updates_come_back_in_order() {
        let mut payload = Vec::new();
        frame_update(&mut payload, &[1, 2, 3]);
        frame_update(&mut payload, &[0; 200]);
        let updates = unframe_updates(&payload).expect("framed");
        assert_eq!(updates, vec![&[1, 2, 3][..], &[0; 200][..]]);
    }

    #[test]
    fn broken_framing_is_refused() {
        assert_eq!(unframe_updates(&[5, 1, 2]), None);
        assert_eq!(unframe_updates(&[]), None);
        assert_eq!(unframe_updates(&[0x86, 0x9a, 0xe2, 0xb6, 0x11]), None);
    }
}
