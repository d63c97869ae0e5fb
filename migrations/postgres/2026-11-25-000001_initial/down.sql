DROP TABLE audit_logs;
DROP TABLE board_states;
DROP TABLE board_members;
DROP TABLE boards;
DROP TABLE users;
