//! `migrations/sqlite` and `migrations/postgres` must build the same schema:
//! the same tables, columns (nullability, primary keys, a matching type), and
//! foreign keys with the same ON DELETE rules. Both sets are applied by the
//! server itself, then read back from each database's catalog. Needs
//! `TEST_POSTGRES_URL`, like the PostgreSQL variants of the suites.

use std::collections::BTreeSet;

use diesel::{
    sql_types::{Bool, Text},
    Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection,
};

use crate::harness::{Backend, TestDatabase};

/// `(table, column, type class, nullable, part of the primary key)`.
type Column = (String, String, &'static str, bool, bool);
/// `(table, column, referenced table, referenced column, ON DELETE rule)`.
type ForeignKey = (String, String, String, String, String);

#[derive(Debug, QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Bool)]
    primary_key: bool,
}

#[derive(Debug, QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    foreign_table: String,
    #[diesel(sql_type = Text)]
    foreign_column: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

/// The storage a column type stands for, so that SQLite's and PostgreSQL's
/// spellings of one intent compare equal. SQLite keeps UUIDs as text.
fn type_class(data_type: &str) -> &'static str {
    match data_type.to_ascii_lowercase().as_str() {
        "text" => "text",
        "uuid" => "text",
        "timestamp" | "timestamp with time zone" => "timestamp",
        "blob" | "bytea" => "bytes",
        "bigint" | "integer" => "integer",
        "boolean" => "bool",
        _ => "unknown",
    }
}

fn columns(rows: Vec<ColumnRow>) -> BTreeSet<Column> {
    rows.into_iter()
        .map(|row| {
            let class = type_class(&row.data_type);
            assert_ne!(
                class, "unknown",
                "unexpected type {} of {}.{}",
                row.data_type, row.table_name, row.column_name
            );
            (
                row.table_name,
                row.column_name,
                class,
                row.nullable,
                row.primary_key,
            )
        })
        .collect()
}

fn foreign_keys(rows: Vec<ForeignKeyRow>) -> BTreeSet<ForeignKey> {
    rows.into_iter()
        .map(|row| {
            (
                row.table_name,
                row.column_name,
                row.foreign_table,
                row.foreign_column,
                row.on_delete.to_ascii_uppercase(),
            )
        })
        .collect()
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' \
     AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'";

fn sqlite_schema(path: &str) -> (BTreeSet<Column>, BTreeSet<ForeignKey>) {
    let mut conn = SqliteConnection::establish(path).expect("open SQLite file");
    let cols = diesel::sql_query(format!(
        "SELECT t.name AS table_name, c.name AS column_name, c.type AS data_type, \
                (c.\"notnull\" = 0 AND c.pk = 0) AS nullable, (c.pk > 0) AS primary_key \
         FROM ({SQLITE_TABLES}) t, pragma_table_info(t.name) c"
    ))
    .load::<ColumnRow>(&mut conn)
    .expect("SQLite columns");
    let fks = diesel::sql_query(format!(
        "SELECT t.name AS table_name, f.\"from\" AS column_name, f.\"table\" AS foreign_table, \
                f.\"to\" AS foreign_column, f.on_delete AS on_delete \
         FROM ({SQLITE_TABLES}) t, pragma_foreign_key_list(t.name) f"
    ))
    .load::<ForeignKeyRow>(&mut conn)
    .expect("SQLite foreign keys");
    (columns(cols), foreign_keys(fks))
}

fn postgres_schema(url: &str, schema: &str) -> (BTreeSet<Column>, BTreeSet<ForeignKey>) {
    let mut conn = PgConnection::establish(url).expect("connect to PostgreSQL");
    let cols = diesel::sql_query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                c.data_type::text AS data_type, (c.is_nullable = 'YES') AS nullable, \
                EXISTS (SELECT 1 FROM information_schema.table_constraints tc \
                        JOIN information_schema.key_column_usage k \
                          ON k.constraint_name = tc.constraint_name \
                         AND k.constraint_schema = tc.constraint_schema \
                        WHERE tc.constraint_type = 'PRIMARY KEY' \
                          AND tc.table_schema = c.table_schema \
                          AND tc.table_name = c.table_name \
                          AND k.column_name = c.column_name) AS primary_key \
         FROM information_schema.columns c \
         WHERE c.table_schema = $1 AND c.table_name <> '__diesel_schema_migrations'",
    )
    .bind::<Text, _>(schema)
    .load::<ColumnRow>(&mut conn)
    .expect("PostgreSQL columns");
    let fks = diesel::sql_query(
        "SELECT k.table_name::text AS table_name, k.column_name::text AS column_name, \
                u.table_name::text AS foreign_table, u.column_name::text AS foreign_column, \
                r.delete_rule::text AS on_delete \
         FROM information_schema.referential_constraints r \
         JOIN information_schema.key_column_usage k \
           ON k.constraint_name = r.constraint_name AND k.constraint_schema = r.constraint_schema \
         JOIN information_schema.constraint_column_usage u \
           ON u.constraint_name = r.unique_constraint_name \
          AND u.constraint_schema = r.unique_constraint_schema \
         WHERE r.constraint_schema = $1",
    )
    .bind::<Text, _>(schema)
    .load::<ForeignKeyRow>(&mut conn)
    .expect("PostgreSQL foreign keys");
    (columns(cols), foreign_keys(fks))
}

#[tokio::test]
async fn both_migration_sets_build_the_same_schema() {
    let Some(postgres) = TestDatabase::create(Backend::Postgres) else {
        return;
    };
    let sqlite = Backend::Sqlite.database();
    for database in [&sqlite, &postgres] {
        database.open().await.close();
    }
    let (TestDatabase::Sqlite { path, .. }, TestDatabase::Postgres { url, schema, .. }) =
        (&sqlite, &postgres)
    else {
        panic!("a SQLite file and a PostgreSQL schema");
    };

    let (sqlite_columns, sqlite_fks) = sqlite_schema(&path.to_string_lossy());
    let (postgres_columns, postgres_fks) = postgres_schema(url, schema);
    assert!(
        sqlite_columns.len() >= 20,
        "read too little: {sqlite_columns:?}"
    );
    assert_eq!(
        sqlite_columns, postgres_columns,
        "columns differ between the migration sets"
    );
    assert!(sqlite_fks.len() >= 6, "read too little: {sqlite_fks:?}");
    assert_eq!(
        sqlite_fks, postgres_fks,
        "foreign keys differ between the migration sets"
    );
}
