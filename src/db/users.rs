//! Queries on `users`.

use diesel::prelude::*;
use uuid::Uuid;

use super::sql_types::{DbTime, DbUuid};

use super::{
    models::utc, now, schema::users, write_transaction, AnyConnection, Db, DbError, MultiBackend,
    User,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct UserRow {
    id: DbUuid,
    email: String,
    password_hash: String,
    display_name: String,
    created_at: DbTime,
}

impl TryFrom<UserRow> for User {
    type Error = DbError;
    fn try_from(row: UserRow) -> Result<Self, DbError> {
        Ok(User {
            id: row.id.0,
            email: row.email,
            display_name: row.display_name,
            password_hash: row.password_hash,
            created_at: utc(row.created_at),
        })
    }
}

/// The first account a query finds, if any.
fn first_user(
    conn: &mut AnyConnection,
    query: users::BoxedQuery<'static, MultiBackend>,
) -> Result<Option<User>, DbError> {
    query
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

impl Db {
    /// Creates an account. [`DbError::Conflict`] when the email is taken.
    pub async fn create_user(
        &self,
        email: String,
        display_name: String,
        password_hash: String,
    ) -> Result<User, DbError> {
        let row = UserRow {
            id: DbUuid(Uuid::now_v7()),
            email,
            password_hash,
            display_name,
            created_at: now(),
        };
        self.interact(move |conn| {
            diesel::insert_into(users::table)
                .values(&row)
                .execute(conn)?;
            User::try_from(row)
        })
        .await
    }

    /// The account with this (already normalised) email, if any.
    pub async fn find_user_by_email(&self, email: String) -> Result<Option<User>, DbError> {
        self.interact(move |conn| {
            first_user(
                conn,
                users::table.filter(users::email.eq(email)).into_boxed(),
            )
        })
        .await
    }

    /// The account with this id, if any.
    pub async fn find_user(&self, id: Uuid) -> Result<Option<User>, DbError> {
        self.interact(move |conn| {
            first_user(
                conn,
                users::table.filter(users::id.eq(DbUuid(id))).into_boxed(),
            )
        })
        .await
    }

    /// Deletes an account; the schema's CASCADEs remove what it owns. Returns the
    /// ids of the boards it owned (now gone), or [`DbError::NotFound`].
    pub async fn delete_user(&self, id: Uuid) -> Result<Vec<Uuid>, DbError> {
        use super::schema::boards;
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let owned: Vec<(DbUuid, String)> = boards::table
                    .filter(boards::owner_id.eq(DbUuid(id)))
                    .select((boards::id, boards::name))
                    .load(conn)?;
                let deleted = diesel::delete(users::table.find(DbUuid(id))).execute(conn)?;
                if deleted == 0 {
                    return Err(DbError::NotFound);
                }
                // Their boards went with the account: each is reported deleted,
                // by its owner.
                for (board_id, name) in &owned {
                    super::board_updates::board_deleted(conn, board_id.0, id, name)?;
                }
                Ok(owned.into_iter().map(|(board_id, _)| board_id.0).collect())
            })
        })
        .await
    }
}
