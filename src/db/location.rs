//! Where the database is and what its commits survive: chosen by the
//! configuration (`DATABASE_URL`, `DURABILITY`), used when the pool opens.

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An SQLite file at this path.
    SqliteFile(String),
    /// A private in-memory SQLite database (one connection, lost at exit).
    SqliteMemory,
    /// A PostgreSQL database, by its `postgres://` URL (handed to libpq as is).
    Postgres(String),
}

impl DatabaseLocation {
    /// The location for logs: a PostgreSQL URL loses its password.
    pub fn redacted(&self) -> String {
        match self {
            Self::SqliteFile(path) => format!("sqlite://{path}"),
            Self::SqliteMemory => "sqlite::memory:".to_owned(),
            Self::Postgres(url) => crate::redact::redact_url_password(url),
        }
    }
}

/// What a committed update survives (`DURABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A crash or kill of the process: SQLite in WAL mode with
    /// `synchronous = NORMAL` (the commit is in the operating system's
    /// cache, not yet on the disk).
    #[default]
    Process,
    /// Also a power cut: SQLite with `synchronous = FULL` (fsync per commit).
    Power,
}
