-- The webhook outbox: an event is written in the transaction of the change it
-- reports (with one delivery per configured URL), so it exists exactly when the
-- change committed, and a crash or restart loses no pending delivery.
--
-- No foreign key to `boards`: a `board.deleted` event outlives its board.
-- `body` is the JSON POSTed, fixed when the event is written, so every retry
-- sends (and signs) the same bytes. Delivered (or abandoned) deliveries are
-- deleted, and an event with its last delivery: the tables hold only what is
-- still to be sent.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    board_id   TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One row per event and receiver. `claimed_until`: an instance is sending it
-- until then; a claim left by a crashed instance expires and the delivery is
-- tried again. `attempts` counts the failed tries so far.
CREATE TABLE webhook_deliveries (
    event_id        TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until   TIMESTAMP,
    last_error      TEXT,
    PRIMARY KEY (event_id, url)
);
CREATE INDEX webhook_deliveries_next_attempt_at ON webhook_deliveries(next_attempt_at);

-- `board.updated` throttling, one row per recently saved board: `authors` (a
-- JSON array of user ids) collects the editors of the saves since the last
-- event; `pending` says a save is waiting for its event, due at `due_at`. A
-- row not pending says the board's last event went out and the next may not
-- before `due_at`; it is removed once that has passed.
CREATE TABLE webhook_board_updates (
    board_id TEXT PRIMARY KEY NOT NULL,
    authors  TEXT NOT NULL,
    pending  BOOLEAN NOT NULL,
    due_at   TIMESTAMP NOT NULL
);
CREATE INDEX webhook_board_updates_due_at ON webhook_board_updates(due_at);
