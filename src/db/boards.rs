//! Queries on `boards` (with the caller's role from `board_members`).

use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::sql_types::{DbTime, DbUuid};

use super::{
    audit::{self, action},
    board_updates,
    models::{self, utc},
    now,
    schema::{board_members, boards},
    write_transaction, AnyConnection, Board, BoardSummary, Db, DbError, Role,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = boards)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct BoardRow {
    id: DbUuid,
    owner_id: DbUuid,
    name: String,
    created_at: DbTime,
    updated_at: DbTime,
}

fn to_board(row: BoardRow, role: &str) -> Result<Board, DbError> {
    Ok(Board {
        id: row.id.0,
        name: row.name,
        owner_id: row.owner_id.0,
        role: models::role_from_column(role)?,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

/// The board as `user_id` sees it, or `None` when that user is not a member.
fn board_for(
    conn: &mut AnyConnection,
    board_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Board>, DbError> {
    boards::table
        .inner_join(board_members::table)
        .filter(boards::id.eq(DbUuid(board_id)))
        .filter(board_members::user_id.eq(DbUuid(user_id)))
        .select((BoardRow::as_select(), board_members::role))
        .first::<(BoardRow, String)>(conn)
        .optional()?
        .map(|(row, role)| to_board(row, &role))
        .transpose()
}

impl Db {
    /// Creates a board owned by `owner_id`: the board, the owner's membership and
    /// the `board.created` audit row, in one transaction.
    pub async fn create_board(&self, owner_id: Uuid, name: String) -> Result<Board, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let at = now();
                let row = BoardRow {
                    id: DbUuid(Uuid::now_v7()),
                    owner_id: DbUuid(owner_id),
                    name,
                    created_at: at,
                    updated_at: at,
                };
                diesel::insert_into(boards::table)
                    .values(&row)
                    .execute(conn)?;
                diesel::insert_into(board_members::table)
                    .values((
                        board_members::board_id.eq(&row.id),
                        board_members::user_id.eq(&row.owner_id),
                        board_members::role.eq(Role::Owner.as_str()),
                        board_members::created_at.eq(at),
                    ))
                    .execute(conn)?;
                let board = to_board(row, Role::Owner.as_str())?;
                audit::record(
                    conn,
                    board.id,
                    owner_id,
                    action::BOARD_CREATED,
                    json!({ "name": board.name }),
                )?;
                Ok(board)
            })
        })
        .await
    }

    /// The boards `user_id` owns or is a member of, newest `updated_at` first.
    pub async fn list_boards(
        &self,
        user_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<BoardSummary, DbError> {
        self.interact(move |conn| {
            let user = DbUuid(user_id);
            let total = board_members::table
                .filter(board_members::user_id.eq(&user))
                .count()
                .get_result(conn)?;
            let rows: Vec<(BoardRow, String)> = boards::table
                .inner_join(board_members::table)
                .filter(board_members::user_id.eq(&user))
                .order((boards::updated_at.desc(), boards::id.desc()))
                .limit(limit)
                .offset(offset)
                .select((BoardRow::as_select(), board_members::role))
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(|(row, role)| to_board(row, &role))
                .collect::<Result<_, _>>()?;
            Ok(BoardSummary { items, total })
        })
        .await
    }

    /// The board as `user_id` sees it, or `None` when it does not exist or that
    /// user is not a member (the two are deliberately indistinguishable).
    pub async fn find_board_for(
        &self,
        board_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Board>, DbError> {
        self.interact(move |conn| board_for(conn, board_id, user_id))
            .await
    }

    /// Whether a board with this id exists.
    pub async fn board_exists(&self, board_id: Uuid) -> Result<bool, DbError> {
        self.interact(move |conn| {
            Ok(
                diesel::select(diesel::dsl::exists(boards::table.find(DbUuid(board_id))))
                    .get_result(conn)?,
            )
        })
        .await
    }

    /// Renames a board and records `board.renamed`, in one transaction. Returns
    /// the board as the actor sees it.
    pub async fn rename_board(
        &self,
        board_id: Uuid,
        actor_id: Uuid,
        name: String,
    ) -> Result<Board, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let before = board_for(conn, board_id, actor_id)?.ok_or(DbError::NotFound)?;
                if before.name == name {
                    return Ok(before);
                }
                diesel::update(boards::table.find(DbUuid(board_id)))
                    .set((boards::name.eq(&name), boards::updated_at.eq(now())))
                    .execute(conn)?;
                audit::record(
                    conn,
                    board_id,
                    actor_id,
                    action::BOARD_RENAMED,
                    json!({ "from": before.name, "to": name }),
                )?;
                board_for(conn, board_id, actor_id)?.ok_or(DbError::NotFound)
            })
        })
        .await
    }

    /// Deletes a board; CASCADE removes its state, members and audit rows.
    /// Its `board.deleted` webhook event is written in the same transaction.
    pub async fn delete_board(&self, board_id: Uuid, actor_id: Uuid) -> Result<(), DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let name: String = boards::table
                    .find(DbUuid(board_id))
                    .select(boards::name)
                    .first(conn)?;
                diesel::delete(boards::table.find(DbUuid(board_id))).execute(conn)?;
                board_updates::board_deleted(conn, board_id, actor_id, &name)
            })
        })
        .await
    }
}
