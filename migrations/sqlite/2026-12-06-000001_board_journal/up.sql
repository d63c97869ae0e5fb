-- A board's journal: the updates this server accepted since the board's last
-- compacted save, appended within milliseconds of their arrival (group commit),
-- so that a crash loses none of them. A save writes the snapshot and deletes
-- the rows it covers in one transaction: the table holds only what is newer
-- than `board_states`.
--
-- `updates` holds one or more Yjs v1 updates of one group commit, each
-- preceded by its length (lib0 varUint). `instance_id` is the process that
-- wrote the row: a save deletes its own rows by id range (its writer commits
-- in order) and other processes' rows only by the ids it read and merged.
-- `kept_aside` marks a row that did not decode: it is kept for inspection,
-- never replayed again, never deleted by a save.
--
-- AUTOINCREMENT: ids are never reused, even after every row was deleted, so
-- "own rows up to id N" never names a row written after N was read.
CREATE TABLE board_journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    board_id    TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    updates     BLOB NOT NULL,
    kept_aside  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX board_journal_board_id_id ON board_journal(board_id, id);
