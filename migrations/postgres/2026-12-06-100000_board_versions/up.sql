-- The PostgreSQL twin of migrations/sqlite's board versions (see there for
-- what the tables and columns mean).
CREATE TABLE board_versions (
    id         UUID PRIMARY KEY NOT NULL,
    board_id   UUID NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('auto', 'manual', 'pre_restore')),
    label      TEXT,
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    size_bytes BIGINT NOT NULL,
    state      BYTEA NOT NULL
);
CREATE INDEX board_versions_board_id_created_at ON board_versions(board_id, created_at);
CREATE INDEX board_versions_created_by ON board_versions(created_by);

CREATE TABLE board_version_authors (
    version_id UUID NOT NULL REFERENCES board_versions(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (version_id, user_id)
);
CREATE INDEX board_version_authors_user_id ON board_version_authors(user_id);

CREATE TABLE board_version_pending (
    board_id        UUID PRIMARY KEY NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    first_change_at TIMESTAMPTZ NOT NULL,
    last_change_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE board_version_pending_authors (
    board_id UUID NOT NULL REFERENCES board_version_pending(board_id) ON DELETE CASCADE,
    user_id  UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (board_id, user_id)
);
CREATE INDEX board_version_pending_authors_user_id ON board_version_pending_authors(user_id);
