-- The PostgreSQL twin of migrations/sqlite: the same tables, columns, keys and
-- ON DELETE rules, with native types (uuid, timestamptz, bytea). Emails compare
-- and sort bytewise (COLLATE "C"), as they do on SQLite.

CREATE TABLE users (
    id            UUID PRIMARY KEY NOT NULL,
    email         TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE boards (
    id         UUID PRIMARY KEY NOT NULL,
    owner_id   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX boards_owner_id ON boards(owner_id);

CREATE TABLE board_members (
    board_id   UUID NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (board_id, user_id)
);
CREATE INDEX board_members_user_id ON board_members(user_id);

CREATE TABLE board_states (
    board_id   UUID PRIMARY KEY NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    state      BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_logs (
    id         UUID PRIMARY KEY NOT NULL,
    board_id   UUID NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    actor_id   UUID REFERENCES users(id) ON DELETE SET NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_logs_board_id_created_at ON audit_logs(board_id, created_at);
CREATE INDEX audit_logs_actor_id ON audit_logs(actor_id);
