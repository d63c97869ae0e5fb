//! The hook told of every successful save of a board, with the users whose
//! edits the save holds (the webhooks' `board.updated` events come from it).
//! The service works the same without one.

use std::{future::Future, pin::Pin};

use uuid::Uuid;

/// A boxed future, so the trait stays object-safe.
pub type SaveHookFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Told of each save after it committed.
pub trait SaveHook: Send + Sync + std::fmt::Debug + 'static {
    /// `board_id` was saved, with the edits of `authors` (the users whose
    /// edits reached the board since its previous save; empty when not
    /// known). Awaited by the board's save worker (never by a socket or a
    /// request), so it should be short; failures are the hook's to report.
    fn saved<'a>(&'a self, board_id: Uuid, authors: &'a [Uuid]) -> SaveHookFuture<'a>;
}
