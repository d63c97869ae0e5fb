//! The database layer: pool, per-connection setup, embedded migrations, and the
//! query functions that handlers call.
//!
//! Handlers never see diesel: they call the `async fn`s on [`Db`] defined in the
//! per-table files below, which run their synchronous diesel code inside
//! `interact` on a pooled connection and return plain model types or [`DbError`].
//! The queries are written once, against [`AnyConnection`]: PostgreSQL or SQLite,
//! chosen by `DATABASE_URL` at start. [`write_transaction`] is the one place the
//! two differ in how a transaction begins.

mod audit;
mod board_store;
mod board_updates;
mod boards;
mod connection;
mod deliveries;
mod journal;
mod location;
mod manager;
mod members;
pub mod models;
pub mod outbox;
mod pool;
pub mod schema;
pub mod sql_types;
mod states;
mod users;
mod versions;

pub(crate) use connection::{write_transaction, AnyConnection, MultiBackend};

pub use crate::board_service::store::{SaveOutcome, StoredState};
pub use connection::Backend;
pub use deliveries::{ClaimedDelivery, DeliveryKey, DeliveryResult, OutboxOutlook};
pub use location::{DatabaseLocation, Durability};
pub use members::{PutMember, RemoveMember};
pub use models::{AuditEntry, Board, BoardSummary, Member, Role, User};
pub use pool::{Db, DEFAULT_POSTGRES_POOL_SIZE};
pub use versions::{BoardVersion, NewVersion, PendingVersion, VersionAuthor, VersionKind};

/// Why a database call failed, in the terms the rest of the server cares about.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken.
    #[error("conflicts with an existing row")]
    Conflict,
    /// No connection could be had (pool exhausted or timed out, database unreachable).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The query failed for another reason (a bug or a broken database).
    #[error("database error: {0}")]
    Query(String),
}

impl From<diesel::result::Error> for DbError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict,
            other => Self::Query(other.to_string()),
        }
    }
}

/// The current time as stored in the database (UTC, microsecond precision).
///
/// Truncated to microseconds so that what is written and what is read back compare
/// equal, whatever precision the backend keeps.
pub(crate) fn now() -> sql_types::DbTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    sql_types::DbTime(
        now.duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now),
    )
}
