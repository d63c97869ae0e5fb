//! Makes the pool's connections: always of the configured backend.
//!
//! deadpool-diesel's own manager calls `AnyConnection::establish`, which tries
//! every backend in turn and reports only that none worked. That would hide
//! why PostgreSQL refused (a wrong password, a server that is down), and when
//! PostgreSQL is unreachable it would try the URL as an SQLite file name. This
//! manager establishes exactly the backend the URL was parsed as.

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_diesel::{Error, Runtime};
use diesel::{Connection, ConnectionResult, PgConnection, SqliteConnection};

use super::connection::{AnyConnection, Backend};

/// A pooled connection (diesel is synchronous: it runs on the blocking pool).
pub(super) type Pooled = deadpool_diesel::Connection<AnyConnection>;

/// Creates and checks connections to one database.
pub(super) struct ConnectionManager {
    url: String,
    backend: Backend,
}

impl ConnectionManager {
    pub(super) fn new(url: String, backend: Backend) -> Self {
        Self { url, backend }
    }
}

fn establish(backend: Backend, url: &str) -> ConnectionResult<AnyConnection> {
    match backend {
        Backend::Postgres => PgConnection::establish(url).map(AnyConnection::Postgres),
        Backend::Sqlite => SqliteConnection::establish(url).map(AnyConnection::Sqlite),
    }
}

impl managed::Manager for ConnectionManager {
    type Type = Pooled;
    type Error = Error;

    async fn create(&self) -> Result<Pooled, Error> {
        let url = self.url.clone();
        let backend = self.backend;
        Pooled::new(Runtime::Tokio1, move || {
            establish(backend, &url).map_err(Error::Connection)
        })
        .await
    }

    /// Cheap on purpose: deadpool-diesel's manager checks the connection on the
    /// blocking pool here, a second thread hop for every query. `Db::interact`
    /// instead checks it right after each use and discards one left inside a
    /// transaction, so only a panic mid-query is left to catch here.
    async fn recycle(&self, conn: &mut Pooled, _: &Metrics) -> RecycleResult<Error> {
        if conn.is_mutex_poisoned() {
            return Err(RecycleError::message(
                "a query panicked while holding this connection",
            ));
        }
        Ok(())
    }
}
