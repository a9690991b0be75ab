-- The change feed: every store, overwrite and delete, appended in the transaction of the
-- change itself. seq is assigned by the writer as MAX(seq) + 1 while it holds the database's
-- single write lock, so sequence numbers follow commit order.
CREATE TABLE change_feed (
    seq        INTEGER PRIMARY KEY NOT NULL,
    changed_at INTEGER NOT NULL,
    action     TEXT NOT NULL,
    study_uid  TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid    TEXT NOT NULL,
    state      TEXT NOT NULL
);
CREATE INDEX change_feed_sop ON change_feed (sop_uid, state);
CREATE INDEX change_feed_study ON change_feed (study_uid, seq);

-- Background workers driven by the change feed (the FHIR push): where each has got to, and
-- which node holds it now (a lease, so that one node works at a time).
CREATE TABLE feed_workers (
    name        TEXT PRIMARY KEY NOT NULL,
    cursor      INTEGER NOT NULL DEFAULT 0,
    holder      TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
