-- Board profiles (package arduino) and the files Ferry derives from a
-- release's image for them. A product without a profile has '' in both
-- columns. derived is a JSON array of {format, size, crc32, md5, sha256}
-- in the order the core made them; '[]' for releases without any.

ALTER TABLE products ADD COLUMN board  TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN loader TEXT NOT NULL DEFAULT '';

ALTER TABLE releases ADD COLUMN derived TEXT NOT NULL DEFAULT '[]';
