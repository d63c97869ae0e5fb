//! Queries on `audit_logs`. Rows are written by the other query files, inside the
//! same transaction as the change they record.

use diesel::prelude::*;
use uuid::Uuid;

use super::sql_types::{DbTime, DbUuid};

use super::{models::utc, now, schema::audit_logs, AnyConnection, AuditEntry, Db, DbError};

/// The actions recorded.
pub(super) mod action {
    pub const BOARD_CREATED: &str = "board.created";
    pub const BOARD_RENAMED: &str = "board.renamed";
    pub const MEMBER_ADDED: &str = "member.added";
    pub const MEMBER_ROLE_CHANGED: &str = "member.role_changed";
    pub const MEMBER_REMOVED: &str = "member.removed";
    pub const VERSION_CREATED: &str = "version.created";
    pub const VERSION_RESTORED: &str = "version.restored";
    pub const VERSION_DELETED: &str = "version.deleted";
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_logs)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct AuditRow {
    id: DbUuid,
    board_id: DbUuid,
    actor_id: Option<DbUuid>,
    action: String,
    detail: String,
    created_at: DbTime,
}

/// Appends an audit row; call inside the transaction of the change it records.
/// `actor_id` is `None` for what the server did by itself (automatic versions).
pub(super) fn record(
    conn: &mut AnyConnection,
    board_id: Uuid,
    actor_id: impl Into<Option<Uuid>>,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    let actor_id = actor_id.into();
    let row = AuditRow {
        id: DbUuid(Uuid::now_v7()),
        board_id: DbUuid(board_id),
        actor_id: actor_id.map(DbUuid),
        action: action.to_owned(),
        detail: detail.to_string(),
        created_at: now(),
    };
    diesel::insert_into(audit_logs::table)
        .values(&row)
        .execute(conn)?;
    super::outbox::audited(conn, board_id, actor_id, action, &detail)?;
    Ok(())
}

impl Db {
    /// One page of a board's audit log, newest first, and the total count.
    pub async fn list_audit(
        &self,
        board_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditEntry>, i64), DbError> {
        self.interact(move |conn| {
            let board = DbUuid(board_id);
            let total = audit_logs::table
                .filter(audit_logs::board_id.eq(&board))
                .count()
                .get_result(conn)?;
            let rows: Vec<AuditRow> = audit_logs::table
                .filter(audit_logs::board_id.eq(&board))
                // v7 ids are time-ordered, so they break ties within one microsecond.
                .order((audit_logs::created_at.desc(), audit_logs::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(AuditRow::as_select())
                .load(conn)?;
            let items = rows
                .into_iter()
                .map(|row| {
                    Ok(AuditEntry {
                        id: row.id.0,
                        actor_id: row.actor_id.map(Uuid::from),
                        action: row.action,
                        // Rows are written by this server as JSON; anything else
                        // is shown as a string rather than failing the listing.
                        detail: serde_json::from_str(&row.detail)
                            .unwrap_or(serde_json::Value::String(row.detail)),
                        created_at: utc(row.created_at),
                    })
                })
                .collect::<Result<_, DbError>>()?;
            Ok((items, total))
        })
        .await
    }
}
