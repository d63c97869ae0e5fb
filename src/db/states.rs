//! Queries on `board_states`: one compacted Yjs snapshot per board.

use diesel::prelude::*;
use uuid::Uuid;

use super::{
    now,
    schema::{board_states, boards},
    Db, DbError,
};

impl Db {
    /// The stored snapshot of a board, or `None` when it was never saved.
    pub async fn load_board_state(&self, board_id: Uuid) -> Result<Option<Vec<u8>>, DbError> {
        self.interact(move |conn| {
            Ok(board_states::table
                .find(board_id.to_string())
                .select(board_states::state)
                .first::<Vec<u8>>(conn)
                .optional()?)
        })
        .await
    }

    /// Stores a board's compacted snapshot (replacing the previous one) and bumps
    /// the board's `updated_at`, in one transaction. [`DbError::NotFound`] when the
    /// board no longer exists.
    pub async fn save_board_state(&self, board_id: Uuid, state: Vec<u8>) -> Result<(), DbError> {
        self.interact(move |conn| {
            conn.immediate_transaction(|conn| {
                let id = board_id.to_string();
                let at = now();
                let touched = diesel::update(boards::table.find(&id))
                    .set(boards::updated_at.eq(at))
                    .execute(conn)?;
                if touched == 0 {
                    return Err(DbError::NotFound);
                }
                diesel::insert_into(board_states::table)
                    .values((
                        board_states::board_id.eq(&id),
                        board_states::state.eq(&state),
                        board_states::updated_at.eq(at),
                    ))
                    .on_conflict(board_states::board_id)
                    .do_update()
                    .set((
                        board_states::state.eq(&state),
                        board_states::updated_at.eq(at),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
        .await
    }
}
