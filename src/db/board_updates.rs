//! `board.updated` throttling on `webhook_board_updates`: at most one event
//! per board per window (`SAVE_MAX_DEBOUNCE_MS`), carrying the authors of
//! every save it covers.
//!
//! The first save after a quiet window sends its event at once; saves within
//! the window after an event collect their authors in the board's row, whose
//! event the delivery worker writes when the window ends. The row is in the
//! database, so a crash or restart in between loses neither the event nor its
//! authors, and instances sharing the database share one window per board.
//! On PostgreSQL the rows are locked (`FOR UPDATE`) while read for a change,
//! so concurrent saves of one board on two instances are applied one after
//! the other; on SQLite the write transaction serializes them anyway.

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::{
    now,
    outbox::{self, EventType, Outbox},
    schema::{boards, webhook_board_updates},
    sql_types::{DbTime, DbUuid},
    write_transaction, AnyConnection, Db, DbError,
};

/// Boards whose event falls due handled per transaction.
const DUE_PER_TRANSACTION: i64 = 100;

/// A row, selected as [`COLUMNS`].
#[derive(Queryable)]
struct UpdateRow {
    board_id: DbUuid,
    authors: String,
    pending: bool,
    due_at: DbTime,
}

/// The columns of an [`UpdateRow`] (a plain tuple, so one query serves
/// both backends' row locking).
const COLUMNS: (
    webhook_board_updates::board_id,
    webhook_board_updates::authors,
    webhook_board_updates::pending,
    webhook_board_updates::due_at,
) = (
    webhook_board_updates::board_id,
    webhook_board_updates::authors,
    webhook_board_updates::pending,
    webhook_board_updates::due_at,
);

/// The user ids stored in a row's `authors` (a JSON array; anything else
/// counts as none rather than failing the board's saves).
fn parse_authors(stored: &str) -> BTreeSet<Uuid> {
    serde_json::from_str(stored).unwrap_or_default()
}

fn authors_json(authors: &BTreeSet<Uuid>) -> String {
    json!(authors).to_string()
}

/// The board's row, locked for this transaction on PostgreSQL.
fn row_for_update(conn: &mut AnyConnection, board_id: Uuid) -> Result<Option<UpdateRow>, DbError> {
    let query = webhook_board_updates::table
        .find(DbUuid(board_id))
        .select(COLUMNS);
    Ok(match conn {
        AnyConnection::Postgres(pg) => query.for_update().first(pg).optional()?,
        AnyConnection::Sqlite(_) => query.first(conn).optional()?,
    })
}

/// Writes the board's `board.updated` event now and starts its window.
fn emit(
    conn: &mut AnyConnection,
    outbox: &Outbox,
    board_id: Uuid,
    authors: &BTreeSet<Uuid>,
    at: DbTime,
) -> Result<(), DbError> {
    outbox::enqueue(
        conn,
        outbox,
        EventType::BoardUpdated,
        board_id,
        json!({ "authors": authors }),
    )?;
    diesel::update(webhook_board_updates::table.find(DbUuid(board_id)))
        .set((
            webhook_board_updates::authors.eq("[]"),
            webhook_board_updates::pending.eq(false),
            webhook_board_updates::due_at.eq(outbox::later(at, outbox.update_window())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Within a board deletion's transaction: its `board.deleted` event (the
/// board's audit rows go with it, so this is written apart from them), and
/// the end of its `board.updated` throttling.
pub(super) fn board_deleted(
    conn: &mut AnyConnection,
    board_id: Uuid,
    actor_id: Uuid,
    name: &str,
) -> Result<(), DbError> {
    let Some(outbox) = outbox::current() else {
        return Ok(());
    };
    forget(conn, board_id)?;
    let data = json!({ "actor_id": actor_id, "name": name });
    outbox::enqueue(conn, &outbox, EventType::BoardDeleted, board_id, data)
}

/// Within a board deletion: its row goes (no event for it follows).
pub(super) fn forget(conn: &mut AnyConnection, board_id: Uuid) -> Result<(), DbError> {
    diesel::delete(webhook_board_updates::table.find(DbUuid(board_id))).execute(conn)?;
    Ok(())
}

/// When the next pending `board.updated` falls due, if one is pending.
pub(super) fn next_due(conn: &mut AnyConnection) -> Result<Option<DbTime>, DbError> {
    Ok(webhook_board_updates::table
        .filter(webhook_board_updates::pending.eq(true))
        .order(webhook_board_updates::due_at.asc())
        .select(webhook_board_updates::due_at)
        .first(conn)
        .optional()?)
}

impl Db {
    /// A save of `board_id` committed, holding the edits of `authors`: sends
    /// its `board.updated` now if the board's window allows, or adds the
    /// authors to the event pending for the window's end. Nothing when
    /// webhooks are off.
    pub async fn note_board_saved(
        &self,
        board_id: Uuid,
        authors: Vec<Uuid>,
    ) -> Result<(), DbError> {
        if self.outbox().is_none() {
            return Ok(());
        }
        let authors: BTreeSet<Uuid> = authors.into_iter().collect();
        let attempt = |authors: BTreeSet<Uuid>| {
            self.interact(move |conn| {
                let outbox = outbox::current().ok_or(DbError::NotFound)?;
                write_transaction(conn, |conn| note_saved(conn, &outbox, board_id, authors))
            })
        };
        match attempt(authors.clone()).await {
            // Another instance inserted the board's first row meanwhile: the
            // second try finds it.
            Err(DbError::Conflict) => attempt(authors).await,
            other => other,
        }
    }

    /// Writes the `board.updated` events whose window has ended, and removes
    /// the rows of windows that ended with nothing pending. Returns how many
    /// events it wrote.
    pub async fn emit_due_board_updates(&self) -> Result<usize, DbError> {
        if self.outbox().is_none() {
            return Ok(0);
        }
        self.interact(|conn| {
            let outbox = outbox::current().ok_or(DbError::NotFound)?;
            write_transaction(conn, |conn| {
                let at = now();
                let query = webhook_board_updates::table
                    .filter(webhook_board_updates::pending.eq(true))
                    .filter(webhook_board_updates::due_at.le(at))
                    .order(webhook_board_updates::due_at.asc())
                    .limit(DUE_PER_TRANSACTION)
                    .select(COLUMNS);
                // Another instance emitting at the same time skips the rows
                // this one holds, rather than writing their events twice.
                let due: Vec<UpdateRow> = match conn {
                    AnyConnection::Postgres(pg) => query.for_update().skip_locked().load(pg)?,
                    AnyConnection::Sqlite(_) => query.load(conn)?,
                };
                let mut written = 0;
                for row in due {
                    let board_id = row.board_id.0;
                    let exists: bool =
                        diesel::select(diesel::dsl::exists(boards::table.find(row.board_id)))
                            .get_result(conn)?;
                    if exists {
                        emit(conn, &outbox, board_id, &parse_authors(&row.authors), at)?;
                        written += 1;
                    } else {
                        forget(conn, board_id)?;
                    }
                }
                diesel::delete(
                    webhook_board_updates::table
                        .filter(webhook_board_updates::pending.eq(false))
                        .filter(webhook_board_updates::due_at.lt(at)),
                )
                .execute(conn)?;
                Ok(written)
            })
        })
        .await
    }
}

fn note_saved(
    conn: &mut AnyConnection,
    outbox: &Outbox,
    board_id: Uuid,
    authors: BTreeSet<Uuid>,
) -> Result<(), DbError> {
    let at = now();
    // A board deleted since its save has had its last event (board.deleted).
    let exists: bool = diesel::select(diesel::dsl::exists(boards::table.find(DbUuid(board_id))))
        .get_result(conn)?;
    if !exists {
        return Ok(());
    }
    match row_for_update(conn, board_id)? {
        None => {
            diesel::insert_into(webhook_board_updates::table)
                .values((
                    webhook_board_updates::board_id.eq(DbUuid(board_id)),
                    webhook_board_updates::authors.eq("[]"),
                    webhook_board_updates::pending.eq(false),
                    webhook_board_updates::due_at.eq(at),
                ))
                .execute(conn)?;
            emit(conn, outbox, board_id, &authors, at)
        }
        Some(row) if !row.pending && row.due_at <= at => emit(conn, outbox, board_id, &authors, at),
        Some(row) => {
            // Within the window: the event waits for its end, with these
            // authors added to those already waiting.
            let mut waiting = if row.pending {
                parse_authors(&row.authors)
            } else {
                BTreeSet::new()
            };
            waiting.extend(authors);
            diesel::update(webhook_board_updates::table.find(DbUuid(board_id)))
                .set((
                    webhook_board_updates::authors.eq(authors_json(&waiting)),
                    webhook_board_updates::pending.eq(true),
                ))
                .execute(conn)?;
            // The worker learns when the window ends.
            outbox::mark_written();
            Ok(())
        }
    }
}
