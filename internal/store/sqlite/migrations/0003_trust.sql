-- Trust: operator token roles and revocation, release signing keys and
-- signatures, security counters, and per-device credentials.

ALTER TABLE tokens ADD COLUMN revoked_at   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;

-- Public keys a product's releases may be signed with. Several can be
-- active at once so keys rotate without a gap; a revoked key verifies
-- nothing from then on.
CREATE TABLE product_keys (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id),
    name       TEXT    NOT NULL,
    alg        TEXT    NOT NULL,
    public_key BLOB    NOT NULL,
    created_at INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (product_id, name)
) STRICT;

ALTER TABLE products ADD COLUMN require_signature INTEGER NOT NULL DEFAULT 0;

ALTER TABLE releases ADD COLUMN security_counter INTEGER NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN manifest         BLOB    NOT NULL DEFAULT x'';
ALTER TABLE releases ADD COLUMN signature        BLOB    NOT NULL DEFAULT x'';
ALTER TABLE releases ADD COLUMN key_id           INTEGER REFERENCES product_keys (id);

-- The security counter a device last reported running.
ALTER TABLE devices ADD COLUMN security_counter INTEGER NOT NULL DEFAULT 0;

-- Per-device credentials: a token issued at enrollment (stored hashed), or
-- a P-256 public key the device signs its requests with.
CREATE TABLE device_credentials (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices (id),
    kind        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL DEFAULT '',
    public_key  BLOB    NOT NULL DEFAULT x'',
    created_at  INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX device_credentials_device ON device_credentials (device_id);
CREATE UNIQUE INDEX device_credentials_secret ON device_credentials (secret_hash) WHERE secret_hash != '';
