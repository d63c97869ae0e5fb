ALTER TABLE board_states DROP COLUMN version;
