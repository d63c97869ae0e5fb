-- The PostgreSQL twin of migrations/sqlite's board journal (see there for what
-- the columns mean). Identity values never repeat, but rows of concurrent
-- transactions (other instances) may commit out of id order: a save deletes
-- other instances' rows only by the ids it read, never by a range.
CREATE TABLE board_journal (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    board_id    UUID NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    instance_id UUID NOT NULL,
    updates     BYTEA NOT NULL,
    kept_aside  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX board_journal_board_id_id ON board_journal(board_id, id);
