//! Queries on `board_versions` (kept snapshots of a board, with their
//! authors) and on `board_version_pending` (a board saved since its last
//! version, and the users whose saved edits the next version will cover).
//!
//! Every save notes its authors in the pending tables within its own
//! transaction ([`note_saved_changes`]); a version consumes the pending row
//! in the transaction that writes it, so authors survive restarts and a
//! board's unloading, and no two versions claim the same edits.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::{
    audit::{self, action},
    models::utc,
    now,
    schema::{
        board_states, board_version_authors, board_version_pending, board_version_pending_authors,
        board_versions, users,
    },
    sql_types::{DbTime, DbUuid},
    write_transaction, AnyConnection, Db, DbError,
};

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// Made by the server after a quiet time or under continuous editing;
    /// only these are pruned (`VERSION_KEEP` per board).
    Auto,
    /// Asked for by a user.
    Manual,
    /// The state a restore replaced, so that the restore can be undone.
    PreRestore,
}

impl VersionKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Manual => "manual",
            Self::PreRestore => "pre_restore",
        }
    }

    fn from_column(value: &str) -> Result<Self, DbError> {
        match value {
            "auto" => Ok(Self::Auto),
            "manual" => Ok(Self::Manual),
            "pre_restore" => Ok(Self::PreRestore),
            other => Err(DbError::Query(format!(
                "unknown version kind {other:?} stored"
            ))),
        }
    }
}

/// A user whose edits went into a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionAuthor {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's display name now.
    pub display_name: String,
}

/// A stored version, without its content.
#[derive(Debug, Clone)]
pub struct BoardVersion {
    /// Its id.
    pub id: Uuid,
    /// The board it belongs to.
    pub board_id: Uuid,
    /// How it came to be.
    pub kind: VersionKind,
    /// A label given by its creator.
    pub label: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it (`None`: the server, or a deleted account).
    pub created_by: Option<Uuid>,
    /// The users whose edits went in since the previous version.
    pub authors: Vec<VersionAuthor>,
    /// The size of its stored state.
    pub size_bytes: i64,
}

/// A version to write.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The board.
    pub board_id: Uuid,
    /// Its kind.
    pub kind: VersionKind,
    /// Its label.
    pub label: Option<String>,
    /// The compacted document (one Yjs v1 update).
    pub state: Vec<u8>,
    /// Who asked for it (`None` for automatic versions).
    pub created_by: Option<Uuid>,
}

/// A board saved since its last version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingVersion {
    /// The board.
    pub board_id: Uuid,
    /// When the first save since the last version happened.
    pub first_change_at: DateTime<Utc>,
    /// When the last save happened.
    pub last_change_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = board_versions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct VersionRow {
    id: DbUuid,
    board_id: DbUuid,
    kind: String,
    label: Option<String>,
    created_by: Option<DbUuid>,
    created_at: DbTime,
    size_bytes: i64,
}

/// Notes, in a save's transaction, that the board changed and who changed it:
/// the next version covers these authors.
pub(super) fn note_saved_changes(
    conn: &mut AnyConnection,
    board_id: Uuid,
    authors: &[Uuid],
) -> Result<(), DbError> {
    let at = now();
    let board = DbUuid(board_id);
    let touched = diesel::update(board_version_pending::table.find(&board))
        .set(board_version_pending::last_change_at.eq(at))
        .execute(conn)?;
    if touched == 0 {
        diesel::insert_into(board_version_pending::table)
            .values((
                board_version_pending::board_id.eq(&board),
                board_version_pending::first_change_at.eq(at),
                board_version_pending::last_change_at.eq(at),
            ))
            .execute(conn)?;
    }
    if authors.is_empty() {
        return Ok(());
    }
    let known: Vec<DbUuid> = board_version_pending_authors::table
        .filter(board_version_pending_authors::board_id.eq(&board))
        .select(board_version_pending_authors::user_id)
        .load(conn)?;
    let mut new: Vec<Uuid> = authors
        .iter()
        .copied()
        .filter(|author| !known.contains(&DbUuid(*author)))
        .collect();
    new.sort_unstable();
    new.dedup();
    for author in new {
        // An account deleted since its edit has no row to point to.
        let exists = users::table
            .find(DbUuid(author))
            .select(users::id)
            .first::<DbUuid>(conn)
            .optional()?
            .is_some();
        if exists {
            diesel::insert_into(board_version_pending_authors::table)
                .values((
                    board_version_pending_authors::board_id.eq(&board),
                    board_version_pending_authors::user_id.eq(DbUuid(author)),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

impl Db {
    /// Writes a version of `new.state` (a manual or pre-restore version of the
    /// live state), consuming the board's pending authors, pruning the oldest
    /// automatic versions beyond `keep_auto`, and recording `version.created`,
    /// in one transaction.
    pub async fn create_version(
        &self,
        new: NewVersion,
        keep_auto: u32,
    ) -> Result<BoardVersion, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let board = DbUuid(new.board_id);
                let authors: Vec<DbUuid> = board_version_pending_authors::table
                    .filter(board_version_pending_authors::board_id.eq(&board))
                    .select(board_version_pending_authors::user_id)
                    .load(conn)?;
                diesel::delete(board_version_pending::table.find(&board)).execute(conn)?;
                insert_version(conn, new, &authors, keep_auto)
            })
        })
        .await
    }

    /// Writes the automatic version `seen` calls for: the board's stored
    /// snapshot (which the pending row describes: both are written by each
    /// save) with the pending authors, in one transaction that consumes the
    /// pending row only if it is still as seen (so two instances never both
    /// write it, and a save in between defers it to the next sweep), prunes
    /// the oldest automatic versions beyond `keep_auto` and records
    /// `version.created` with no actor. `None` when nothing was written.
    pub async fn create_auto_version(
        &self,
        seen: PendingVersion,
        keep_auto: u32,
    ) -> Result<Option<BoardVersion>, DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let board = DbUuid(seen.board_id);
                let authors: Vec<DbUuid> = board_version_pending_authors::table
                    .filter(board_version_pending_authors::board_id.eq(&board))
                    .select(board_version_pending_authors::user_id)
                    .load(conn)?;
                if !consume_seen(conn, seen)? {
                    return Ok(None);
                }
                let state = board_states::table
                    .find(&board)
                    .select(board_states::state)
                    .first::<Vec<u8>>(conn)
                    .optional()?;
                let Some(state) = state else {
                    return Ok(None);
                };
                let new = NewVersion {
                    board_id: seen.board_id,
                    kind: VersionKind::Auto,
                    label: None,
                    state,
                    created_by: None,
                };
                insert_version(conn, new, &authors, keep_auto).map(Some)
            })
        })
        .await
    }

    /// The boards whose last save is at or before `quiet_before`, or whose first
    /// save since their last version is at or before `first_before`: at most `limit`.
    pub async fn due_versions(
        &self,
        quiet_before: DateTime<Utc>,
        first_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PendingVersion>, DbError> {
        self.interact(move |conn| {
            let rows: Vec<(DbUuid, DbTime, DbTime)> = board_version_pending::table
                .filter(
                    board_version_pending::last_change_at
                        .le(DbTime(quiet_before.naive_utc()))
                        .or(board_version_pending::first_change_at
                            .le(DbTime(first_before.naive_utc()))),
                )
                .order(board_version_pending::last_change_at.asc())
                .limit(limit)
                .select((
                    board_version_pending::board_id,
                    board_version_pending::first_change_at,
                    board_version_pending::last_change_at,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(board_id, first, last)| PendingVersion {
                    board_id: board_id.0,
                    first_change_at: utc(first),
                    last_change_at: utc(last),
                })
                .collect())
        })
        .await
    }

    /// One page of a board's versions, newest first, and the total count.
    pub async fn list_versions(
        &self,
        board_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BoardVersion>, i64), DbError> {
        self.interact(move |conn| {
            let board = DbUuid(board_id);
            let total = board_versions::table
                .filter(board_versions::board_id.eq(&board))
                .count()
                .get_result(conn)?;
            let rows: Vec<VersionRow> = board_versions::table
                .filter(board_versions::board_id.eq(&board))
                .order((board_versions::created_at.desc(), board_versions::id.desc()))
                .limit(limit)
                .offset(offset)
                .select(VersionRow::as_select())
                .load(conn)?;
            Ok((with_authors(conn, rows)?, total))
        })
        .await
    }

    /// One version of a board.
    pub async fn get_version(
        &self,
        board_id: Uuid,
        version_id: Uuid,
    ) -> Result<BoardVersion, DbError> {
        self.interact(move |conn| {
            let row = version_row(conn, board_id, version_id)?;
            with_authors(conn, vec![row])?
                .pop()
                .ok_or(DbError::NotFound)
        })
        .await
    }

    /// The stored state of one version of a board.
    pub async fn version_state(
        &self,
        board_id: Uuid,
        version_id: Uuid,
    ) -> Result<Vec<u8>, DbError> {
        self.interact(move |conn| {
            board_versions::table
                .filter(board_versions::id.eq(DbUuid(version_id)))
                .filter(board_versions::board_id.eq(DbUuid(board_id)))
                .select(board_versions::state)
                .first::<Vec<u8>>(conn)
                .optional()?
                .ok_or(DbError::NotFound)
        })
        .await
    }

    /// Deletes a version and records `version.deleted` by `actor_id`.
    pub async fn delete_version(
        &self,
        board_id: Uuid,
        version_id: Uuid,
        actor_id: Uuid,
    ) -> Result<(), DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let row = version_row(conn, board_id, version_id)?;
                diesel::delete(board_versions::table.find(DbUuid(version_id))).execute(conn)?;
                audit::record(
                    conn,
                    board_id,
                    actor_id,
                    action::VERSION_DELETED,
                    json!({ "version_id": version_id, "kind": row.kind, "label": row.label }),
                )
            })
        })
        .await
    }

    /// Records `version.restored`: `actor_id` made the board's content that of
    /// `version_id`, after keeping what it replaced as `backup_id`.
    pub async fn record_restore(
        &self,
        board_id: Uuid,
        version_id: Uuid,
        backup_id: Uuid,
        actor_id: Uuid,
    ) -> Result<(), DbError> {
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                audit::record(
                    conn,
                    board_id,
                    actor_id,
                    action::VERSION_RESTORED,
                    json!({ "version_id": version_id, "backup_id": backup_id }),
                )
            })
        })
        .await
    }
}

/// Deletes the pending row if it is still as `seen`; says whether it did.
fn consume_seen(conn: &mut AnyConnection, seen: PendingVersion) -> Result<bool, DbError> {
    let deleted = diesel::delete(
        board_version_pending::table
            .find(DbUuid(seen.board_id))
            .filter(
                board_version_pending::last_change_at.eq(DbTime(seen.last_change_at.naive_utc())),
            )
            .filter(
                board_version_pending::first_change_at.eq(DbTime(seen.first_change_at.naive_utc())),
            ),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

/// Inserts a version and its authors, prunes automatic versions, records
/// `version.created`.
fn insert_version(
    conn: &mut AnyConnection,
    new: NewVersion,
    authors: &[DbUuid],
    keep_auto: u32,
) -> Result<BoardVersion, DbError> {
    let board = DbUuid(new.board_id);
    let size_bytes = i64::try_from(new.state.len()).unwrap_or(i64::MAX);
    let row = VersionRow {
        id: DbUuid(Uuid::now_v7()),
        board_id: board,
        kind: new.kind.as_str().to_owned(),
        label: new.label,
        created_by: new.created_by.map(DbUuid),
        created_at: now(),
        size_bytes,
    };
    diesel::insert_into(board_versions::table)
        .values((&row, board_versions::state.eq(&new.state)))
        .execute(conn)?;
    for author in authors {
        diesel::insert_into(board_version_authors::table)
            .values((
                board_version_authors::version_id.eq(&row.id),
                board_version_authors::user_id.eq(author),
            ))
            .execute(conn)?;
    }
    if new.kind == VersionKind::Auto {
        let expired: Vec<DbUuid> = board_versions::table
            .filter(board_versions::board_id.eq(&board))
            .filter(board_versions::kind.eq(VersionKind::Auto.as_str()))
            .order((board_versions::created_at.desc(), board_versions::id.desc()))
            .offset(i64::from(keep_auto))
            .limit(i64::MAX)
            .select(board_versions::id)
            .load(conn)?;
        if !expired.is_empty() {
            diesel::delete(board_versions::table.filter(board_versions::id.eq_any(&expired)))
                .execute(conn)?;
        }
    }
    audit::record(
        conn,
        new.board_id,
        new.created_by,
        action::VERSION_CREATED,
        json!({ "version_id": row.id.0, "kind": row.kind, "label": row.label }),
    )?;
    with_authors(conn, vec![row])?
        .pop()
        .ok_or(DbError::NotFound)
}

fn version_row(
    conn: &mut AnyConnection,
    board_id: Uuid,
    version_id: Uuid,
) -> Result<VersionRow, DbError> {
    board_versions::table
        .filter(board_versions::id.eq(DbUuid(version_id)))
        .filter(board_versions::board_id.eq(DbUuid(board_id)))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(DbError::NotFound)
}

/// The rows as versions, with their authors' current display names.
fn with_authors(
    conn: &mut AnyConnection,
    rows: Vec<VersionRow>,
) -> Result<Vec<BoardVersion>, DbError> {
    let ids: Vec<DbUuid> = rows.iter().map(|row| row.id).collect();
    let authors: Vec<(DbUuid, DbUuid, String)> = if ids.is_empty() {
        Vec::new()
    } else {
        board_version_authors::table
            .inner_join(users::table)
            .filter(board_version_authors::version_id.eq_any(&ids))
            .order((users::display_name.asc(), users::id.asc()))
            .select((
                board_version_authors::version_id,
                board_version_authors::user_id,
                users::display_name,
            ))
            .load(conn)?
    };
    rows.into_iter()
        .map(|row| {
            Ok(BoardVersion {
                id: row.id.0,
                board_id: row.board_id.0,
                kind: VersionKind::from_column(&row.kind)?,
                label: row.label,
                created_at: utc(row.created_at),
                created_by: row.created_by.map(Uuid::from),
                authors: authors
                    .iter()
                    .filter(|(version, _, _)| *version == row.id)
                    .map(|(_, user_id, display_name)| VersionAuthor {
                        user_id: user_id.0,
                        display_name: display_name.clone(),
                    })
                    .collect(),
                size_bytes: row.size_bytes,
            })
        })
        .collect()
}
