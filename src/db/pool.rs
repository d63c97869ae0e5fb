//! The connection pool and the one place where SQLite connections are set up.

use std::time::Duration;

use deadpool_diesel::sqlite::{Hook, HookError, Manager, Pool, Runtime};
use diesel::{connection::SimpleConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbError;
use crate::config::DatabaseLocation;

/// The migrations in `migrations/`, compiled into the binary.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a request waits for a pooled connection before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Set on every new connection. `foreign_keys` is off by default in SQLite and is
/// per connection: without it the schema's ON DELETE CASCADEs silently do nothing.
/// `busy_timeout` makes concurrent writers wait for the lock instead of failing.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// WAL lets readers proceed while a board is being saved; `synchronous = NORMAL`
/// is durable against a process crash (the case that matters for `kill -9`).
const FILE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/// A handle to the database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Db {
    /// Opens the database, sets up every connection, and runs pending migrations.
    pub async fn open(location: &DatabaseLocation) -> Result<Self, DbError> {
        let (url, max_size, file) = match location {
            DatabaseLocation::SqliteFile(path) => (path.clone(), 8, true),
            // Every connection to ":memory:" is its own empty database, so the
            // pool must hold exactly one.
            DatabaseLocation::SqliteMemory => (":memory:".to_owned(), 1, false),
        };
        let manager = Manager::new(url, Runtime::Tokio1);
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(Runtime::Tokio1)
            .post_create(Hook::async_fn(move |conn, _| {
                Box::pin(async move {
                    conn.interact(move |conn| configure_connection(conn, file))
                        .await
                        .map_err(|err| HookError::message(err.to_string()))?
                        .map_err(|err| HookError::message(err.to_string()))
                })
            }))
            .build()
            .map_err(|err| DbError::Unavailable(err.to_string()))?;
        let db = Self { pool };
        db.interact(|conn| {
            conn.run_pending_migrations(MIGRATIONS)
                .map(|applied| {
                    for version in applied {
                        tracing::info!(%version, "applied migration");
                    }
                })
                .map_err(|err| DbError::Query(format!("migrations failed: {err}")))
        })
        .await?;
        Ok(db)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    ///
    /// This is the only way the rest of the layer touches a connection: diesel is
    /// synchronous and must never run on the async threads.
    pub(crate) async fn interact<F, R>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        let waiting = std::time::Instant::now();
        let conn = self.pool.get().await;
        crate::metrics::pool_wait(waiting.elapsed());
        let conn = conn.map_err(|err| DbError::Unavailable(err.to_string()))?;
        conn.interact(f)
            .await
            .map_err(|err| DbError::Query(format!("database task failed: {err}")))?
    }

    /// Stops handing out connections: every later call fails as unavailable.
    /// The last step of shutdown (and how tests make the database unreachable).
    pub fn close(&self) {
        self.pool.close();
    }

    /// Answers whether the database takes a trivial query now.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.interact(|conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|err| DbError::Unavailable(err.to_string()))
        })
        .await
    }
}

fn configure_connection(conn: &mut SqliteConnection, file: bool) -> Result<(), DbError> {
    conn.batch_execute(CONNECTION_PRAGMAS)?;
    if file {
        conn.batch_execute(FILE_PRAGMAS)?;
    }
    Ok(())
}
