-- Device commands: a small instruction for one device, delivered at its
-- next contact and answered by it, with a history per command. A command
-- is open while finished_at is 0.

CREATE TABLE commands (
    id             INTEGER PRIMARY KEY,
    device_id      INTEGER NOT NULL REFERENCES devices (id),
    name           TEXT    NOT NULL,
    payload        TEXT    NOT NULL DEFAULT '',
    urgent         INTEGER NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL,
    created_by     TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL DEFAULT 0,
    expires_at     INTEGER NOT NULL DEFAULT 0,
    delivered_at   INTEGER NOT NULL DEFAULT 0,
    finished_at    INTEGER NOT NULL DEFAULT 0,
    via            TEXT    NOT NULL DEFAULT '',
    result         TEXT    NOT NULL DEFAULT '',
    result_payload TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Serves a device's listing (newest first) and its open commands.
CREATE INDEX commands_device ON commands (device_id, id);

-- Serves the expiry sweep, which reads only open commands.
CREATE INDEX commands_due ON commands (expires_at, id) WHERE finished_at = 0;

CREATE TABLE command_events (
    id         INTEGER PRIMARY KEY,
    command_id INTEGER NOT NULL REFERENCES commands (id),
    at         INTEGER NOT NULL DEFAULT 0,
    kind       TEXT    NOT NULL,
    via        TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX command_events_command ON command_events (command_id, at, id);
