//! The two column types whose storage differs between the backends, so that one
//! schema (and one set of queries) serves both:
//!
//! - [`Id`]: a UUID. PostgreSQL stores it as `uuid`; SQLite, which has no such
//!   type, as the canonical lowercase string.
//! - [`UtcTimestamp`]: a UTC instant. PostgreSQL stores it as `timestamptz`;
//!   SQLite as `TIMESTAMP` text (`YYYY-MM-DD HH:MM:SS.ffffff`, so text order is
//!   time order).
//!
//! Each type reuses diesel's own encodings for the backend's native type; the
//! impls for `MultiBackend` just dispatch to the backend in use. Rust code binds
//! and reads them as [`DbUuid`] and [`DbTime`], thin wrappers of `uuid::Uuid`
//! and `chrono::NaiveDateTime` (always UTC): diesel's traits can only be given
//! to types of this crate.

use std::{fmt, io::Write};

use chrono::NaiveDateTime;
use diesel::{
    backend::Backend,
    deserialize::{self, FromSql},
    pg::{Pg, PgValue},
    serialize::{self, IsNull, Output, ToSql},
    sql_types::{self, HasSqlType},
    sqlite::Sqlite,
};
use uuid::Uuid;

use super::connection::MultiBackend;

/// A UUID column: `uuid` on PostgreSQL, canonical text on SQLite.
#[derive(
    Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Id;

/// A UTC instant: `timestamptz` on PostgreSQL, `TIMESTAMP` text on SQLite.
#[derive(
    Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UtcTimestamp;

/// A UUID as bound to and read from an [`Id`] column.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Id)]
pub struct DbUuid(pub Uuid);

impl From<Uuid> for DbUuid {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<DbUuid> for Uuid {
    fn from(id: DbUuid) -> Self {
        id.0
    }
}

impl fmt::Display for DbUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A UTC instant as bound to and read from a [`UtcTimestamp`] column.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = UtcTimestamp)]
pub struct DbTime(pub NaiveDateTime);

impl ToSql<Id, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<Id, Sqlite> for DbUuid {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<sql_types::Text, Sqlite>>::from_sql(value)?;
        Ok(Self(Uuid::parse_str(&text)?))
    }
}

impl ToSql<Id, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Id, Pg> for DbUuid {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <Uuid as FromSql<sql_types::Uuid, Pg>>::from_sql(value).map(Self)
    }
}

impl ToSql<UtcTimestamp, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <NaiveDateTime as ToSql<sql_types::Timestamp, Sqlite>>::to_sql(&self.0, out)
    }
}

impl FromSql<UtcTimestamp, Sqlite> for DbTime {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<sql_types::Timestamp, Sqlite>>::from_sql(value).map(Self)
    }
}

// `timestamptz` travels exactly like `timestamp` (microseconds since 2000-01-01),
// read as UTC: the same encoding serves both.
impl ToSql<UtcTimestamp, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<sql_types::Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<UtcTimestamp, Pg> for DbTime {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<sql_types::Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

/// The `MultiBackend` side of a custom type: look up its metadata in the backend
/// in use, and bind / read values through that backend's impls above.
macro_rules! multi_backend_type {
    ($sql_type:ty, $rust_type:ty) => {
        impl HasSqlType<$sql_type> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql_type>(lookup)
            }
        }

        impl ToSql<$sql_type, MultiBackend> for $rust_type {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((<$sql_type>::default(), self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<$sql_type, MultiBackend> for $rust_type {
            fn from_sql(
                value: <MultiBackend as Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                value.from_sql::<$rust_type, $sql_type>()
            }
        }
    };
}

multi_backend_type!(Id, DbUuid);
multi_backend_type!(UtcTimestamp, DbTime);
