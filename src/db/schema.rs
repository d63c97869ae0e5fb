//! Diesel table definitions, matching `migrations/` (as `diesel print-schema` writes them).

diesel::table! {
    audit_logs (id) {
        id -> Text,
        board_id -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    board_members (board_id, user_id) {
        board_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    board_states (board_id) {
        board_id -> Text,
        state -> Binary,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    boards (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(audit_logs -> boards (board_id));
diesel::joinable!(audit_logs -> users (actor_id));
diesel::joinable!(board_members -> boards (board_id));
diesel::joinable!(board_members -> users (user_id));
diesel::joinable!(board_states -> boards (board_id));
diesel::joinable!(boards -> users (owner_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_logs,
    board_members,
    board_states,
    boards,
    users,
);
