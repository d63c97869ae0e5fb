//! Plain data types that the query functions return. No diesel types here: these
//! are what the rest of the server (and the JSON layer) works with.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DbError;
pub use crate::role::Role;

/// Reads a role from its stored spelling.
pub(super) fn role_from_column(value: &str) -> Result<Role, DbError> {
    Role::parse(value).ok_or_else(|| DbError::Query(format!("unknown role {value:?} stored")))
}

/// An account.
#[derive(Debug, Clone)]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// Login email, trimmed and lowercased.
    pub email: String,
    /// The name shown to other users.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// A board as one user sees it (with that user's role).
#[derive(Debug, Clone)]
pub struct Board {
    /// Its id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The owner's user id.
    pub owner_id: Uuid,
    /// The viewing user's role on it.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its name or content last changed.
    pub updated_at: DateTime<Utc>,
}

/// One page of a user's boards.
#[derive(Debug, Clone)]
pub struct BoardSummary {
    /// The boards on this page.
    pub items: Vec<Board>,
    /// How many boards the user has in all.
    pub total: i64,
}

/// A user's membership of a board, with the user's public fields.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member's user id.
    pub user_id: Uuid,
    /// The member's email.
    pub email: String,
    /// The member's display name.
    pub display_name: String,
    /// The member's role.
    pub role: Role,
}

/// One audit log row.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Its id.
    pub id: Uuid,
    /// Who did it; `None` once that account is deleted.
    pub actor_id: Option<Uuid>,
    /// What was done, e.g. `board.renamed`.
    pub action: String,
    /// Action-specific details (a JSON object).
    pub detail: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Reads a stored timestamp (always UTC).
pub(super) fn utc(value: super::sql_types::DbTime) -> DateTime<Utc> {
    value.0.and_utc()
}
