-- Outbound nudges: a product's request to a carrier's API that wakes a
-- device holding no connection, and the outbox of nudges to send.
-- Durations are INTEGER milliseconds, latencies microseconds.

CREATE TABLE nudge_configs (
    product_id        INTEGER PRIMARY KEY REFERENCES products (id),
    url               TEXT    NOT NULL,
    method            TEXT    NOT NULL,
    headers           TEXT    NOT NULL DEFAULT '[]',
    body              TEXT    NOT NULL DEFAULT '',
    secret            TEXT    NOT NULL DEFAULT '',
    per_device        INTEGER NOT NULL,
    per_device_window INTEGER NOT NULL,
    per_minute        INTEGER NOT NULL,
    max_attempts      INTEGER NOT NULL,
    backoff_base      INTEGER NOT NULL,
    backoff_cap       INTEGER NOT NULL,
    triggers          TEXT    NOT NULL DEFAULT '[]',
    updated_at        INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The nudge outbox: written in the transaction that queued the command,
-- sent later by the nudge sender, so no request path waits on a carrier.
CREATE TABLE nudges (
    id          INTEGER PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    device_id   INTEGER NOT NULL REFERENCES devices (id),
    device      TEXT    NOT NULL,
    trigger     TEXT    NOT NULL,
    command_id  INTEGER NOT NULL DEFAULT 0,
    data        BLOB    NOT NULL,
    state       TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Serves the sender's query for due nudges.
CREATE INDEX nudges_due ON nudges (next_at, id) WHERE state = 'queued';
-- Serve the rate limits' counts and the listings.
CREATE INDEX nudges_device ON nudges (device_id, created_at);
CREATE INDEX nudges_product ON nudges (product_id, created_at);

CREATE TABLE nudge_attempts (
    id         INTEGER PRIMARY KEY,
    nudge_id   INTEGER NOT NULL REFERENCES nudges (id),
    at         INTEGER NOT NULL,
    status     INTEGER NOT NULL DEFAULT 0,
    error      TEXT    NOT NULL DEFAULT '',
    latency_us INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX nudge_attempts_nudge ON nudge_attempts (nudge_id, id);
