-- hawkBit DDI: the SHA-1 SWUpdate checks artifacts against, and the
-- cancels a device must still acknowledge.

-- Lowercase hex SHA-1 of the image; '' for releases published before it
-- was recorded, which the core fills in the first time it is needed.
ALTER TABLE releases ADD COLUMN sha1 TEXT NOT NULL DEFAULT '';

-- 1 while the server has canceled an update the device was given over a
-- protocol whose devices acknowledge cancels, and the device has not yet.
ALTER TABLE updates ADD COLUMN cancel_pending INTEGER NOT NULL DEFAULT 0;
