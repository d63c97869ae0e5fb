DROP TABLE board_journal;
