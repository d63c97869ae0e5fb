DROP TABLE board_version_pending_authors;
DROP TABLE board_version_pending;
DROP TABLE board_version_authors;
DROP TABLE board_versions;
