-- Staged rollouts, device targeting, poll steering, the audit log and
-- outbound webhooks. Durations are INTEGER milliseconds, 0 for "default".

ALTER TABLE products ADD COLUMN poll_idle   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN poll_active INTEGER NOT NULL DEFAULT 0;

CREATE TABLE rollouts (
    id                INTEGER PRIMARY KEY,
    product_id        INTEGER NOT NULL REFERENCES products (id),
    release_id        INTEGER NOT NULL REFERENCES releases (id),
    version           TEXT    NOT NULL,
    selector          TEXT    NOT NULL DEFAULT '{}',
    phases            TEXT    NOT NULL DEFAULT '[]',
    thresholds        TEXT    NOT NULL DEFAULT '[]',
    phase             INTEGER NOT NULL DEFAULT 0,
    state             TEXT    NOT NULL,
    reason            TEXT    NOT NULL DEFAULT '',
    auto_advance      INTEGER NOT NULL DEFAULT 0,
    soak              INTEGER NOT NULL DEFAULT 0,
    success_rate      REAL    NOT NULL DEFAULT 0,
    max_concurrent    INTEGER NOT NULL DEFAULT 0,
    offers_per_minute INTEGER NOT NULL DEFAULT 0,
    fail_percent      REAL    NOT NULL DEFAULT 0,
    fail_min_finished INTEGER NOT NULL DEFAULT 0,
    fail_count        INTEGER NOT NULL DEFAULT 0,
    created_by        TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL DEFAULT 0,
    phase_started_at  INTEGER NOT NULL DEFAULT 0,
    finished_at       INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A product has at most one active (running or paused) rollout. Queries for
-- active rollouts repeat this WHERE clause literally so that SQLite can use
-- the index.
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (product_id) WHERE state IN ('running', 'paused');

-- Serves a product's rollout list, newest (highest id) first.
CREATE INDEX rollouts_product ON rollouts (product_id, id);

ALTER TABLE devices ADD COLUMN tags                TEXT    NOT NULL DEFAULT '[]';
ALTER TABLE devices ADD COLUMN pinned_release_id   INTEGER REFERENCES releases (id);
ALTER TABLE devices ADD COLUMN excluded            INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN poll                INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN assigned_release_id INTEGER REFERENCES releases (id);
ALTER TABLE devices ADD COLUMN assigned_rollout_id INTEGER REFERENCES rollouts (id);
ALTER TABLE devices ADD COLUMN assigned_at         INTEGER NOT NULL DEFAULT 0;

ALTER TABLE updates ADD COLUMN rollout_id INTEGER REFERENCES rollouts (id);
ALTER TABLE updates ADD COLUMN served     INTEGER NOT NULL DEFAULT 0;

-- Serves a rollout's update list and its offer rate.
CREATE INDEX updates_rollout ON updates (rollout_id, created_at);

-- Serves a rollout's concurrency count, asked on every offer, without
-- reading the finished updates, which outnumber the open ones.
CREATE INDEX updates_rollout_open ON updates (rollout_id)
    WHERE state NOT IN ('succeeded', 'failed', 'canceled');

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    product TEXT    NOT NULL DEFAULT '',
    object  TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Serve the audit listing, newest first, of everything and of one product.
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_product ON audit (product, at);

CREATE TABLE webhooks (
    product_id INTEGER PRIMARY KEY REFERENCES products (id),
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The webhook outbox: events are written in the transaction that caused
-- them and delivered later, so a device request never waits on a receiver.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products (id),
    event        TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL DEFAULT 0,
    delivered_at INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Serves the dispatcher's query for due deliveries.
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE delivered_at = 0;

-- Serves a product's delivery list, newest (highest id) first.
CREATE INDEX deliveries_product ON deliveries (product_id, id);
