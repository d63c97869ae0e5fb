//! Queries on `board_members`: listing, adding, changing and removing members.

use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::sql_types::DbUuid;

use super::{
    audit::{self, action},
    models, now,
    schema::{board_members, users},
    write_transaction, AnyConnection, Db, DbError, Member, Role,
};

/// What [`Db::put_member`] did.
#[derive(Debug, Clone)]
pub enum PutMember {
    /// The user was not a member and now is.
    Added(Member),
    /// The user's role changed (or was already the one asked for).
    Updated(Member),
    /// The email belongs to the board's owner, whose role cannot change here.
    IsOwner,
    /// No account has that email.
    UnknownEmail,
}

/// What [`Db::remove_member`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveMember {
    /// The membership is gone.
    Removed,
    /// The user is the owner, who cannot be removed.
    IsOwner,
    /// The user was not a member.
    NotMember,
}

fn member_of(
    conn: &mut AnyConnection,
    board_id: DbUuid,
    user_id: DbUuid,
) -> Result<Option<Member>, DbError> {
    board_members::table
        .inner_join(users::table)
        .filter(board_members::board_id.eq(board_id))
        .filter(board_members::user_id.eq(user_id))
        .select((
            users::id,
            users::email,
            users::display_name,
            board_members::role,
        ))
        .first::<(DbUuid, String, String, String)>(conn)
        .optional()?
        .map(to_member)
        .transpose()
}

fn to_member(
    (user_id, email, display_name, role): (DbUuid, String, String, String),
) -> Result<Member, DbError> {
    Ok(Member {
        user_id: user_id.0,
        email,
        display_name,
        role: models::role_from_column(&role)?,
    })
}

impl Db {
    /// Every member of a board, the owner first, then by email.
    pub async fn list_members(&self, board_id: Uuid) -> Result<Vec<Member>, DbError> {
        self.interact(move |conn| {
            let rows: Vec<(DbUuid, String, String, String)> = board_members::table
                .inner_join(users::table)
                .filter(board_members::board_id.eq(DbUuid(board_id)))
                .select((
                    users::id,
                    users::email,
                    users::display_name,
                    board_members::role,
                ))
                .order(users::email.asc())
                .load(conn)?;
            let mut members = rows
                .into_iter()
                .map(to_member)
                .collect::<Result<Vec<_>, _>>()?;
            members.sort_by_key(|member| member.role != Role::Owner);
            Ok(members)
        })
        .await
    }

    /// Adds the account with `email` to the board as `role`, or changes its role,
    /// recording `member.added` / `member.role_changed` in the same transaction.
    pub async fn put_member(
        &self,
        board_id: Uuid,
        actor_id: Uuid,
        email: String,
        role: Role,
    ) -> Result<PutMember, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let board = DbUuid(board_id);
                let Some(user_id) = users::table
                    .filter(users::email.eq(&email))
                    .select(users::id)
                    .first::<DbUuid>(conn)
                    .optional()?
                else {
                    return Ok(PutMember::UnknownEmail);
                };
                let existing = member_of(conn, board, user_id)?;
                match existing {
                    Some(member) if member.role == Role::Owner => Ok(PutMember::IsOwner),
                    Some(member) if member.role == role => Ok(PutMember::Updated(member)),
                    Some(member) => {
                        diesel::update(board_members::table.find((&board, &user_id)))
                            .set(board_members::role.eq(role.as_str()))
                            .execute(conn)?;
                        audit::record(
                            conn,
                            board_id,
                            actor_id,
                            action::MEMBER_ROLE_CHANGED,
                            json!({
                                "user_id": member.user_id,
                                "from": member.role.as_str(),
                                "to": role.as_str(),
                            }),
                        )?;
                        Ok(PutMember::Updated(Member { role, ..member }))
                    }
                    None => {
                        diesel::insert_into(board_members::table)
                            .values((
                                board_members::board_id.eq(&board),
                                board_members::user_id.eq(&user_id),
                                board_members::role.eq(role.as_str()),
                                board_members::created_at.eq(now()),
                            ))
                            .execute(conn)?;
                        let member = member_of(conn, board, user_id)?.ok_or(DbError::NotFound)?;
                        audit::record(
                            conn,
                            board_id,
                            actor_id,
                            action::MEMBER_ADDED,
                            json!({ "user_id": member.user_id, "role": role.as_str() }),
                        )?;
                        Ok(PutMember::Added(member))
                    }
                }
            })
        })
        .await
    }

    /// Removes a member, recording `member.removed` in the same transaction.
    pub async fn remove_member(
        &self,
        board_id: Uuid,
        actor_id: Uuid,
        user_id: Uuid,
    ) -> Result<RemoveMember, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let board = DbUuid(board_id);
                let user = DbUuid(user_id);
                match member_of(conn, board, user)? {
                    None => Ok(RemoveMember::NotMember),
                    Some(member) if member.role == Role::Owner => Ok(RemoveMember::IsOwner),
                    Some(member) => {
                        diesel::delete(board_members::table.find((&board, &user))).execute(conn)?;
                        audit::record(
                            conn,
                            board_id,
                            actor_id,
                            action::MEMBER_REMOVED,
                            json!({ "user_id": user_id, "role": member.role.as_str() }),
                        )?;
                        Ok(RemoveMember::Removed)
                    }
                }
            })
        })
        .await
    }
}
