-- Board versions: compacted snapshots kept for history and restore.
-- `kind` is 'auto' (made after a quiet time or under continuous editing),
-- 'manual' (asked for) or 'pre_restore' (the state a restore replaced).
-- Only 'auto' versions are pruned (VERSION_KEEP per board). `state` comes
-- last: SQLite reads the columns after a large value by walking its overflow
-- pages, and listings read every column but this one.
CREATE TABLE board_versions (
    id         TEXT PRIMARY KEY NOT NULL,
    board_id   TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('auto', 'manual', 'pre_restore')),
    label      TEXT,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    size_bytes BIGINT NOT NULL,
    state      BLOB NOT NULL
);
CREATE INDEX board_versions_board_id_created_at ON board_versions(board_id, created_at);
CREATE INDEX board_versions_created_by ON board_versions(created_by);

-- The users whose edits went into a version since the previous one.
CREATE TABLE board_version_authors (
    version_id TEXT NOT NULL REFERENCES board_versions(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (version_id, user_id)
);
CREATE INDEX board_version_authors_user_id ON board_version_authors(user_id);

-- A board saved since its last version: written by every successful save in
-- its transaction, consumed (deleted) by the version that follows. It outlives
-- the board's time in memory and restarts.
CREATE TABLE board_version_pending (
    board_id        TEXT PRIMARY KEY NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    first_change_at TIMESTAMP NOT NULL,
    last_change_at  TIMESTAMP NOT NULL
);

-- The users whose saved edits the pending version will cover.
CREATE TABLE board_version_pending_authors (
    board_id TEXT NOT NULL REFERENCES board_version_pending(board_id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (board_id, user_id)
);
CREATE INDEX board_version_pending_authors_user_id ON board_version_pending_authors(user_id);
