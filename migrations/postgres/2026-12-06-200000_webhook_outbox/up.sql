-- The PostgreSQL twin of migrations/sqlite's webhook outbox (see there for
-- what the tables and columns mean). Instances sharing this database share
-- the outbox: each claims a delivery (`claimed_until`) before sending it.
CREATE TABLE webhook_events (
    id         UUID PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    board_id   UUID NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id        UUID NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    last_error      TEXT,
    PRIMARY KEY (event_id, url)
);
CREATE INDEX webhook_deliveries_next_attempt_at ON webhook_deliveries(next_attempt_at);

CREATE TABLE webhook_board_updates (
    board_id UUID PRIMARY KEY NOT NULL,
    authors  TEXT NOT NULL,
    pending  BOOLEAN NOT NULL,
    due_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_board_updates_due_at ON webhook_board_updates(due_at);
