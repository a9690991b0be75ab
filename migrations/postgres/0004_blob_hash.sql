-- The SHA-256 of each instance blob, written at ingest (lower-case hex), so that
-- `tessera check --verify` can tell a damaged blob from a good one. NULL for instances
-- stored before this column existed (they are checked by parsing only).
ALTER TABLE instances ADD COLUMN blob_sha256 TEXT;
