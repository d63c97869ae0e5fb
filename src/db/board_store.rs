//! The database as the board core's snapshot store ([`BoardStore`]): the
//! queries are in `states.rs`; this maps their errors to the core's.

use uuid::Uuid;

use super::{Db, DbError};
use crate::board_service::{
    journal::Compaction,
    store::{BoardStore, SaveOutcome, StoreError, StoreFuture, StoredState},
};

impl From<DbError> for StoreError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => Self::NotFound,
            DbError::Unavailable(reason) => Self::Unavailable(reason),
            other => Self::Other(other.to_string()),
        }
    }
}

impl BoardStore for Db {
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>> {
        Box::pin(async move { Ok(self.load_board_state(board_id).await?) })
    }

    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome> {
        Box::pin(async move {
            Ok(self
                .save_board_state(board_id, state, expected_version, compaction, authors)
                .await?)
        })
    }
}
