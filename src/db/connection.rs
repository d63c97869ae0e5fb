//! The one connection type the query layer is written against: PostgreSQL or
//! SQLite, chosen by `DATABASE_URL` when the process starts.

use diesel::{
    connection::{AnsiTransactionManager, TransactionManager},
    Connection, PgConnection, SqliteConnection,
};

use super::DbError;

/// Which database the server talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection to whichever backend is configured. Queries are written once
/// against this type; diesel checks them against both backends at compile time.
///
/// Connections are made by `manager.rs`, which establishes the configured
/// variant directly (the derived `establish` would try each in turn).
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `body` in a transaction that will write.
///
/// On SQLite the transaction takes the write lock when it begins (`BEGIN
/// IMMEDIATE`): a read-then-write transaction started as a plain `BEGIN` can
/// fail with "database is locked" when it tries to upgrade while another writer
/// waits, and `busy_timeout` does not help with that. PostgreSQL's row locks
/// make a plain transaction right there.
pub(crate) fn write_transaction<R>(
    conn: &mut AnyConnection,
    body: impl FnOnce(&mut AnyConnection) -> Result<R, DbError>,
) -> Result<R, DbError> {
    match conn {
        AnyConnection::Postgres(_) => conn.transaction(body),
        AnyConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
            let result = body(conn);
            // The transaction state lives in the inner connection, so it is
            // finished there, whichever way the body went.
            let AnyConnection::Sqlite(sqlite) = conn else {
                return Err(DbError::Query("connection changed backend".to_owned()));
            };
            match result {
                Ok(value) => {
                    AnsiTransactionManager::commit_transaction(sqlite)?;
                    Ok(value)
                }
                Err(err) => {
                    AnsiTransactionManager::rollback_transaction(sqlite)?;
                    Err(err)
                }
            }
        }
    }
}
