//! Diesel table definitions, matching both migration sets (`migrations/sqlite`,
//! `migrations/postgres`). [`Id`] and [`UtcTimestamp`] are the column types whose
//! storage differs between the two (see `sql_types.rs`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    audit_logs (id) {
        id -> Id,
        board_id -> Id,
        actor_id -> Nullable<Id>,
        action -> Text,
        detail -> Text,
        created_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::Id;

    board_journal (id) {
        id -> BigInt,
        board_id -> Id,
        instance_id -> Id,
        updates -> Binary,
        kept_aside -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    board_members (board_id, user_id) {
        board_id -> Id,
        user_id -> Id,
        role -> Text,
        created_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    board_states (board_id) {
        board_id -> Id,
        state -> Binary,
        updated_at -> UtcTimestamp,
        version -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    boards (id) {
        id -> Id,
        owner_id -> Id,
        name -> Text,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    users (id) {
        id -> Id,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        created_at -> UtcTimestamp,
    }
}

diesel::joinable!(audit_logs -> boards (board_id));
diesel::joinable!(audit_logs -> users (actor_id));
diesel::joinable!(board_journal -> boards (board_id));
diesel::joinable!(board_members -> boards (board_id));
diesel::joinable!(board_members -> users (user_id));
diesel::joinable!(board_states -> boards (board_id));
diesel::joinable!(boards -> users (owner_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_logs,
    board_journal,
    board_members,
    board_states,
    boards,
    users,
);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    board_versions (id) {
        id -> Id,
        board_id -> Id,
        kind -> Text,
        label -> Nullable<Text>,
        created_by -> Nullable<Id>,
        created_at -> UtcTimestamp,
        size_bytes -> BigInt,
        state -> Binary,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::Id;

    board_version_authors (version_id, user_id) {
        version_id -> Id,
        user_id -> Id,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    board_version_pending (board_id) {
        board_id -> Id,
        first_change_at -> UtcTimestamp,
        last_change_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::Id;

    board_version_pending_authors (board_id, user_id) {
        board_id -> Id,
        user_id -> Id,
    }
}

diesel::joinable!(board_versions -> boards (board_id));
diesel::joinable!(board_version_authors -> board_versions (version_id));
diesel::joinable!(board_version_authors -> users (user_id));
diesel::joinable!(board_version_pending -> boards (board_id));
diesel::joinable!(board_version_pending_authors -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    board_versions,
    board_version_authors,
    board_version_pending,
    board_version_pending_authors,
    users,
);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    webhook_board_updates (board_id) {
        board_id -> Id,
        authors -> Text,
        pending -> Bool,
        due_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    webhook_deliveries (event_id, url) {
        event_id -> Id,
        url -> Text,
        attempts -> Integer,
        next_attempt_at -> UtcTimestamp,
        claimed_until -> Nullable<UtcTimestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::sql_types::{Id, UtcTimestamp};

    webhook_events (id) {
        id -> Id,
        event_type -> Text,
        board_id -> Id,
        body -> Text,
        created_at -> UtcTimestamp,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_events (event_id));

diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_events);
