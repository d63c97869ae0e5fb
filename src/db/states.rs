//! Queries on `board_states`: one compacted Yjs snapshot per board, written with
//! a compare-and-swap on its `version` so that a save never replaces content it
//! has not seen (another instance may have saved the same board meanwhile).

use diesel::prelude::*;
use uuid::Uuid;

use super::sql_types::DbUuid;
use crate::board_service::{
    journal::Compaction,
    store::{SaveOutcome, StoredState},
};

use super::{
    journal::compact,
    now,
    schema::{board_states, boards},
    versions::note_saved_changes,
    write_transaction, Db, DbError,
};

impl Db {
    /// The stored snapshot of a board, or `None` when it was never saved.
    pub async fn load_board_state(&self, board_id: Uuid) -> Result<Option<StoredState>, DbError> {
        self.interact(move |conn| {
            Ok(board_states::table
                .find(DbUuid(board_id))
                .select((board_states::state, board_states::version))
                .first::<(Vec<u8>, i64)>(conn)
                .optional()?
                .map(|(state, version)| StoredState { state, version }))
        })
        .await
    }

    /// Stores a board's compacted snapshot if the stored one is still
    /// `expected_version` (0: none stored yet), bumping the board's `updated_at`,
    /// and removing the journal rows the snapshot covers (`compaction`), in one
    /// transaction: a crash leaves either the old snapshot and its rows or the
    /// new one without them. The same transaction notes that the board changed
    /// since its last version, and that `authors` edited it (see
    /// `db::versions`). Otherwise writes nothing and returns what is
    /// stored. [`DbError::NotFound`] when the board no longer exists.
    pub async fn save_board_state(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> Result<SaveOutcome, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let at = now();
                // Touching the board row first also serializes concurrent saves
                // of one board: on PostgreSQL the second waits for the first's
                // row lock, then reads the version it committed.
                let touched = diesel::update(boards::table.find(DbUuid(board_id)))
                    .set(boards::updated_at.eq(at))
                    .execute(conn)?;
                if touched == 0 {
                    return Err(DbError::NotFound);
                }
                let stored = board_states::table
                    .find(DbUuid(board_id))
                    .select(board_states::version)
                    .first::<i64>(conn)
                    .optional()?;
                match stored {
                    None if expected_version == 0 => {
                        diesel::insert_into(board_states::table)
                            .values((
                                board_states::board_id.eq(DbUuid(board_id)),
                                board_states::state.eq(&state),
                                board_states::updated_at.eq(at),
                                board_states::version.eq(1),
                            ))
                            .execute(conn)?;
                        compact(conn, board_id, &compaction)?;
                        note_saved_changes(conn, board_id, &authors)?;
                        Ok(SaveOutcome::Saved { version: 1 })
                    }
                    Some(version) if version == expected_version => {
                        diesel::update(board_states::table.find(DbUuid(board_id)))
                            .set((
                                board_states::state.eq(&state),
                                board_states::updated_at.eq(at),
                                board_states::version.eq(version + 1),
                            ))
                            .execute(conn)?;
                        compact(conn, board_id, &compaction)?;
                        note_saved_changes(conn, board_id, &authors)?;
                        Ok(SaveOutcome::Saved {
                            version: version + 1,
                        })
                    }
                    _ => {
                        let (state, version) = board_states::table
                            .find(DbUuid(board_id))
                            .select((board_states::state, board_states::version))
                            .first::<(Vec<u8>, i64)>(conn)
                            .optional()?
                            // Expected a snapshot that was never written (or was
                            // deleted with its board): nothing to merge.
                            .unwrap_or_default();
                        Ok(SaveOutcome::Conflict(StoredState { state, version }))
                    }
                }
            })
        })
        .await
    }
}
