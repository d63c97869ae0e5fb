-- How many times the snapshot was written. A save names the version it last
-- read and only replaces that one: a save from another instance in between
-- makes it merge the stored content first instead of overwriting it.
ALTER TABLE board_states ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
