DROP TABLE webhook_board_updates;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
