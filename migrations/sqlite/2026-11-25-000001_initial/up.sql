-- Ids are canonical lowercase UUID strings; timestamps are UTC, written by the
-- server as 'YYYY-MM-DD HH:MM:SS.ffffff' so that text order is time order.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE boards (
    id         TEXT PRIMARY KEY NOT NULL,
    owner_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX boards_owner_id ON boards(owner_id);

CREATE TABLE board_members (
    board_id   TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (board_id, user_id)
);
CREATE INDEX board_members_user_id ON board_members(user_id);

CREATE TABLE board_states (
    board_id   TEXT PRIMARY KEY NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    state      BLOB NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_logs (
    id         TEXT PRIMARY KEY NOT NULL,
    board_id   TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    actor_id   TEXT REFERENCES users(id) ON DELETE SET NULL,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_logs_board_id_created_at ON audit_logs(board_id, created_at);
CREATE INDEX audit_logs_actor_id ON audit_logs(actor_id);
