//! The connection pool, the one place where connections are set up, and the
//! migrations of each backend.

use std::time::Duration;

use deadpool::managed::{Hook, HookError, QueueMode};
use deadpool_diesel::Runtime;
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{
    connection::AnyConnection,
    manager::{ConnectionManager, Pooled},
    outbox::{Outbox, Scope},
    Backend, DatabaseLocation, DbError, Durability,
};

type Pool = deadpool_diesel::Pool<ConnectionManager>;

/// The migrations of each backend, compiled into the binary. The two sets are
/// kept equivalent: `tests/api/schema_equivalence.rs` compares the schemas they produce.
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Connections kept to PostgreSQL unless `DATABASE_POOL_SIZE` says otherwise.
/// Every query is short, and sockets never hold a connection, so a small pool
/// serves many clients.
pub const DEFAULT_POSTGRES_POOL_SIZE: usize = 16;

/// How long a request waits for a pooled connection before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Set on every new connection. `foreign_keys` is off by default in SQLite and is
/// per connection: without it the schema's ON DELETE CASCADEs silently do nothing.
/// `busy_timeout` makes concurrent writers wait for the lock instead of failing.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// WAL lets readers proceed while a board is being saved. `synchronous =
/// NORMAL` makes a commit durable against a process crash or `kill -9` (the
/// WAL frames are in the operating system's cache when the commit returns),
/// not against a power cut; `FULL` fsyncs the WAL at every commit and
/// survives both (`DURABILITY=power`). The journal's group commits are what
/// make the fsync affordable: one per batch, not one per update.
const FILE_PRAGMAS_PROCESS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
const FILE_PRAGMAS_POWER: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";

/// A handle to the database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    /// Where audited changes' webhook events go (`None`: webhooks off).
    outbox: Option<std::sync::Arc<Outbox>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("status", &self.pool.status())
            .field("webhooks", &self.outbox.is_some())
            .finish()
    }
}

impl Db {
    /// Opens the database, sets up every connection, and runs pending migrations
    /// (with `DURABILITY=process`).
    pub async fn open(location: &DatabaseLocation) -> Result<Self, DbError> {
        Self::open_with(location, Durability::Process).await
    }

    /// [`Db::open`] with the given durability of SQLite commits. PostgreSQL
    /// follows its own `synchronous_commit` (logged at start).
    pub async fn open_with(
        location: &DatabaseLocation,
        durability: Durability,
    ) -> Result<Self, DbError> {
        Self::open_with_pool(location, durability, DEFAULT_POSTGRES_POOL_SIZE).await
    }

    /// [`Db::open_with`], keeping at most `postgres_pool_size` connections to
    /// PostgreSQL (SQLite pools are sized by what SQLite can use).
    pub async fn open_with_pool(
        location: &DatabaseLocation,
        durability: Durability,
        postgres_pool_size: usize,
    ) -> Result<Self, DbError> {
        let (url, max_size, file, backend) = match location {
            DatabaseLocation::SqliteFile(path) => (path.clone(), 8, true, Backend::Sqlite),
            // Every connection to ":memory:" is its own empty database, so the
            // pool must hold exactly one.
            DatabaseLocation::SqliteMemory => (":memory:".to_owned(), 1, false, Backend::Sqlite),
            DatabaseLocation::Postgres(url) => {
                (url.clone(), postgres_pool_size, false, Backend::Postgres)
            }
        };
        let manager = ConnectionManager::new(url, backend);
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(Runtime::Tokio1)
            // The connection used last is handed out first: its SQLite page
            // cache is the warm one (a board's state just saved on it is read
            // back from memory when the board is loaded again), and the
            // connections beyond what the load needs stay idle.
            .queue_mode(QueueMode::Lifo)
            .post_create(Hook::async_fn(move |conn: &mut Pooled, _| {
                Box::pin(async move {
                    conn.interact(move |conn| configure_connection(conn, file, durability))
                        .await
                        .map_err(|err| HookError::message(err.to_string()))?
                        .map_err(|err| HookError::message(err.to_string()))
                })
            }))
            .build()
            .map_err(|err| DbError::Unavailable(err.to_string()))?;
        let db = Self {
            pool,
            backend,
            outbox: None,
        };
        db.interact(|conn| {
            let applied = match conn {
                AnyConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS),
                AnyConnection::Postgres(conn) => conn.run_pending_migrations(POSTGRES_MIGRATIONS),
            };
            applied
                .map(|applied| {
                    for version in applied {
                        tracing::info!(%version, "applied migration");
                    }
                })
                .map_err(|err| DbError::Query(format!("migrations failed: {err}")))
        })
        .await?;
        db.warm().await?;
        if file || backend == Backend::Postgres {
            db.log_durability(durability).await;
        }
        tracing::info!(database = %location.redacted(), "database ready");
        Ok(db)
    }

    /// Opens every connection the pool may hold, now rather than under the
    /// first burst of requests (every client reconnecting after a restart),
    /// which would otherwise queue behind the connections being set up.
    async fn warm(&self) -> Result<(), DbError> {
        let size = self.pool.status().max_size;
        let connections = futures_util::future::join_all((0..size).map(|_| self.pool.get())).await;
        // Held until all are open, so each `get` opened one of its own.
        let opened: Result<Vec<_>, _> = connections.into_iter().collect();
        opened.map_err(|err| DbError::Unavailable(err.to_string()))?;
        Ok(())
    }

    /// This database, writing a webhook event for every audited change (and
    /// the events of `outbox::EventType`) to `outbox`.
    pub fn with_outbox(self, outbox: Outbox) -> Self {
        Self {
            outbox: Some(std::sync::Arc::new(outbox)),
            ..self
        }
    }

    /// The webhook outbox, when webhooks are on.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.outbox.as_deref()
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    ///
    /// This is the only way the rest of the layer touches a connection: diesel is
    /// synchronous and must never run on the async threads. The webhook outbox
    /// is current while `f` runs (see `outbox.rs`).
    pub(crate) async fn interact<F, R>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        let waiting = std::time::Instant::now();
        let conn = self.pool.get().await;
        crate::metrics::pool_wait(waiting.elapsed());
        let conn = conn.map_err(|err| DbError::Unavailable(err.to_string()))?;
        let outbox = self.outbox.clone();
        let (result, broken) = conn
            .interact(move |conn| {
                let scope = Scope::enter(outbox);
                let result = f(conn);
                drop(scope);
                (result, connection_is_broken(conn))
            })
            .await
            .map_err(|err| DbError::Query(format!("database task failed: {err}")))?;
        if broken {
            // Left inside a transaction: never hand it out again.
            drop(deadpool::managed::Object::take(conn));
        }
        result
    }

    /// Says at start what a committed update survives here.
    async fn log_durability(&self, durability: Durability) {
        match self.backend {
            Backend::Sqlite => tracing::info!(
                ?durability,
                "committed updates survive a process crash{}",
                if durability == Durability::Power {
                    " and a power cut"
                } else {
                    ""
                }
            ),
            Backend::Postgres => {
                #[derive(diesel::QueryableByName)]
                struct Setting {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    synchronous_commit: String,
                }
                let setting = self
                    .interact(|conn| {
                        use diesel::RunQueryDsl;
                        Ok(diesel::sql_query("SHOW synchronous_commit")
                            .get_result::<Setting>(conn)?
                            .synchronous_commit)
                    })
                    .await;
                match setting {
                    Ok(value) if value == "off" => tracing::warn!(
                        synchronous_commit = %value,
                        "PostgreSQL commits are not flushed: a database crash may lose the last updates"
                    ),
                    Ok(value) => tracing::info!(synchronous_commit = %value,
                        "PostgreSQL decides what a committed update survives (DURABILITY applies to SQLite)"),
                    Err(err) => tracing::debug!(%err, "synchronous_commit not read"),
                }
            }
        }
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

/// Whether a connection was left inside a transaction (the body of one
/// panicked, or a rollback failed). Checked right after each use, on the thread
/// that used it, so that handing it out again needs no trip to that thread.
fn connection_is_broken(conn: &mut AnyConnection) -> bool {
    use diesel::{connection::TransactionManager, Connection};
    <AnyConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
}

fn configure_connection(
    conn: &mut AnyConnection,
    file: bool,
    durability: Durability,
) -> Result<(), DbError> {
    match conn {
        AnyConnection::Sqlite(conn) => {
            conn.batch_execute(CONNECTION_PRAGMAS)?;
            if file {
                conn.batch_execute(match durability {
                    Durability::Process => FILE_PRAGMAS_PROCESS,
                    Durability::Power => FILE_PRAGMAS_POWER,
                })?;
            }
        }
        // Timestamps are written and read as UTC instants; the session time zone
        // only matters to people reading the tables with psql.
        AnyConnection::Postgres(conn) => conn.batch_execute("SET TIME ZONE 'UTC'")?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_postgres_is_reported_as_such_and_never_tried_as_a_file() {
        let url = "postgres://canvas@127.0.0.1:1/canvas".to_owned();
        let err = Db::open(&DatabaseLocation::Postgres(url))
            .await
            .expect_err("nothing listens on port 1");
        let message = err.to_string();
        assert!(
            message.contains("127.0.0.1") && message.contains("port 1"),
            "the reason is libpq's: {message}"
        );
        // SQLite would have read the URL as a path starting `postgres:/`.
        assert!(
            !std::path::Path::new("postgres:").exists(),
            "no SQLite file was made from the URL"
        );
    }
}
