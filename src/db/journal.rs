//! Queries on `board_journal`: the updates accepted since each board's last
//! compacted save (see `board_service::journal` for what a row holds), and
//! the part of a save that removes the rows its snapshot covers.

use diesel::prelude::*;
use uuid::Uuid;

use super::{
    schema::{board_journal, boards},
    sql_types::DbUuid,
    write_transaction, AnyConnection, Db, DbError,
};
use crate::board_service::journal::{
    Compaction, JournalError, JournalFuture, JournalRow, JournalStore, NewJournalRow,
};

/// Ids per `IN (…)` list: well under SQLite's bound-parameter limit.
const IDS_PER_STATEMENT: usize = 500;

impl From<DbError> for JournalError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(reason) => Self::Unavailable(reason),
            DbError::NotFound => Self::BoardGone,
            other => Self::Failed(other.to_string()),
        }
    }
}

impl Db {
    /// Appends journal rows as `instance`'s in one transaction, skipping rows
    /// of boards that no longer exist (a deleted board's late updates would
    /// otherwise fail the whole group commit on the foreign key). Returns, per
    /// board written, the highest id of `instance`'s rows of that board.
    pub async fn append_journal(
        &self,
        instance: Uuid,
        rows: Vec<NewJournalRow>,
    ) -> Result<Vec<(Uuid, i64)>, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let wanted: Vec<DbUuid> = rows.iter().map(|row| DbUuid(row.board_id)).collect();
                let mut existing = std::collections::HashSet::with_capacity(wanted.len());
                for chunk in wanted.chunks(IDS_PER_STATEMENT) {
                    let query = boards::table
                        .filter(boards::id.eq_any(chunk))
                        .select(boards::id);
                    let found: Vec<DbUuid> = match conn {
                        // The boards found stay until the commit: a board
                        // deleted meanwhile would fail the whole group commit
                        // on the foreign key. (SQLite: `BEGIN IMMEDIATE`
                        // already holds off every other writer.)
                        AnyConnection::Postgres(pg) => query.for_key_share().load(pg)?,
                        AnyConnection::Sqlite(_) => query.load(conn)?,
                    };
                    existing.extend(found.into_iter().map(|id| id.0));
                }
                // Each row's id comes back from its insert: this instance's
                // writer is the only one adding its rows, one row per board
                // per commit, so that id is its newest row of the board.
                let mut highest = Vec::with_capacity(rows.len());
                for row in rows.iter().filter(|row| existing.contains(&row.board_id)) {
                    let id: i64 = diesel::insert_into(board_journal::table)
                        .values((
                            board_journal::board_id.eq(DbUuid(row.board_id)),
                            board_journal::instance_id.eq(DbUuid(instance)),
                            board_journal::updates.eq(&row.updates),
                        ))
                        .returning(board_journal::id)
                        .get_result(conn)?;
                    highest.push((row.board_id, id));
                }
                Ok(highest)
            })
        })
        .await
    }

    /// A board's journal rows not kept aside, in id order, leaving out
    /// `except`'s rows when given.
    pub async fn read_journal(
        &self,
        board_id: Uuid,
        except: Option<Uuid>,
    ) -> Result<Vec<JournalRow>, DbError> {
        self.interact(move |conn| {
            let mut query = board_journal::table
                .filter(board_journal::board_id.eq(DbUuid(board_id)))
                .filter(board_journal::kept_aside.eq(false))
                .select((board_journal::id, board_journal::updates))
                .order(board_journal::id.asc())
                .into_boxed();
            if let Some(instance) = except {
                query = query.filter(board_journal::instance_id.ne(DbUuid(instance)));
            }
            let rows: Vec<(i64, Vec<u8>)> = query.load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(id, updates)| JournalRow { id, updates })
                .collect())
        })
        .await
    }

    /// Whether a board has journal rows not kept aside (an index lookup).
    pub async fn journal_has_rows(&self, board_id: Uuid) -> Result<bool, DbError> {
        self.interact(move |conn| {
            let found: Option<i64> = board_journal::table
                .filter(board_journal::board_id.eq(DbUuid(board_id)))
                .filter(board_journal::kept_aside.eq(false))
                .select(board_journal::id)
                .first(conn)
                .optional()?;
            Ok(found.is_some())
        })
        .await
    }
}

/// Within a save's transaction: deletes the journal rows its snapshot covers
/// and marks the undecodable ones kept aside.
pub(super) fn compact(
    conn: &mut AnyConnection,
    board_id: Uuid,
    compaction: &Compaction,
) -> Result<(), DbError> {
    // Marked first: an undecodable row of this instance may lie within the
    // own range deleted below, which spares rows kept aside.
    for chunk in compaction.kept_aside.chunks(IDS_PER_STATEMENT) {
        diesel::update(
            board_journal::table
                .filter(board_journal::board_id.eq(DbUuid(board_id)))
                .filter(board_journal::id.eq_any(chunk)),
        )
        .set(board_journal::kept_aside.eq(true))
        .execute(conn)?;
    }
    if compaction.own_up_to > 0 {
        // Own rows by range: this instance's writer commits in id order, so
        // every own row up to `own_up_to` was committed (and applied to the
        // document) before the snapshot was encoded.
        diesel::delete(
            board_journal::table
                .filter(board_journal::board_id.eq(DbUuid(board_id)))
                .filter(board_journal::instance_id.eq(DbUuid(compaction.instance)))
                .filter(board_journal::id.le(compaction.own_up_to))
                .filter(board_journal::kept_aside.eq(false)),
        )
        .execute(conn)?;
    }
    // Other processes' rows only by the ids read: their ids need not commit
    // in order, so a range could name a row nobody has merged.
    for chunk in compaction.merged.chunks(IDS_PER_STATEMENT) {
        diesel::delete(
            board_journal::table
                .filter(board_journal::board_id.eq(DbUuid(board_id)))
                .filter(board_journal::id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

impl JournalStore for Db {
    fn append(
        &self,
        instance: Uuid,
        rows: Vec<NewJournalRow>,
    ) -> JournalFuture<'_, Vec<(Uuid, i64)>> {
        Box::pin(async move { Ok(self.append_journal(instance, rows).await?) })
    }

    fn read(&self, board_id: Uuid, except: Option<Uuid>) -> JournalFuture<'_, Vec<JournalRow>> {
        Box::pin(async move { Ok(self.read_journal(board_id, except).await?) })
    }

    fn has_rows(&self, board_id: Uuid) -> JournalFuture<'_, bool> {
        Box::pin(async move { Ok(self.journal_has_rows(board_id).await?) })
    }
}
