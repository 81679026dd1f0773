-- Ferry's first schema. Times are INTEGER unix milliseconds in UTC, 0 for
-- the zero time. Optional references (a channel without a release, an event
-- about no update) are NULL so that foreign keys still hold.

CREATE TABLE products (
    id         INTEGER PRIMARY KEY,
    -- Names are unique regardless of case, so "Sensor" and "sensor" can
    -- never be two products that devices and operators confuse.
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    access     TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE releases (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id),
    version    TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    crc32      INTEGER NOT NULL,
    md5        TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    notes      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (product_id, version)
) STRICT;

CREATE INDEX releases_product_sha256 ON releases (product_id, sha256);

CREATE TABLE channels (
    product_id INTEGER NOT NULL REFERENCES products (id),
    name       TEXT    NOT NULL,
    release_id INTEGER REFERENCES releases (id),
    updated_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (product_id, name)
) STRICT;

CREATE TABLE devices (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products (id),
    name         TEXT    NOT NULL,
    channel      TEXT    NOT NULL DEFAULT '',
    version      TEXT    NOT NULL DEFAULT '',
    image_sha256 TEXT    NOT NULL DEFAULT '',
    attributes   TEXT    NOT NULL DEFAULT '{}',
    first_seen   INTEGER NOT NULL DEFAULT 0,
    last_seen    INTEGER NOT NULL DEFAULT 0,
    bytes_served INTEGER NOT NULL DEFAULT 0,
    UNIQUE (product_id, name)
) STRICT;

CREATE INDEX devices_name ON devices (name);

CREATE TABLE updates (
    id           INTEGER PRIMARY KEY,
    device_id    INTEGER NOT NULL REFERENCES devices (id),
    release_id   INTEGER NOT NULL REFERENCES releases (id),
    version      TEXT    NOT NULL,
    from_version TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    progress     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL DEFAULT 0,
    finished_at  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Serves a device's update list, its open update and its latest update
-- (the highest id), which device listings join on.
CREATE INDEX updates_device ON updates (device_id, id);

-- A device works on at most one update at a time; a second open one would
-- make its reports ambiguous.
CREATE UNIQUE INDEX updates_one_open ON updates (device_id) WHERE finished_at = 0;

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (id),
    update_id INTEGER REFERENCES updates (id),
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    state     TEXT    NOT NULL DEFAULT '',
    version   TEXT    NOT NULL DEFAULT '',
    progress  INTEGER NOT NULL DEFAULT 0,
    detail    TEXT    NOT NULL DEFAULT '',
    protocol  TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_device ON events (device_id, at);
CREATE INDEX events_update ON events (update_id, at);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL DEFAULT 0
) STRICT;
