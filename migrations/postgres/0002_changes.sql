-- The change feed: every store, overwrite and delete, appended in the transaction of the
-- change itself. seq is assigned by the writer as MAX(seq) + 1 under a transaction-level
-- advisory lock taken last in the transaction, so sequence numbers follow commit order also
-- with several nodes writing at once (a SEQUENCE would not: numbers taken in one order can
-- commit in another, and a reader could skip one).
CREATE TABLE change_feed (
    seq        BIGINT PRIMARY KEY,
    changed_at BIGINT NOT NULL,
    action     TEXT NOT NULL,
    study_uid  TEXT COLLATE "C" NOT NULL,
    series_uid TEXT COLLATE "C" NOT NULL,
    sop_uid    TEXT COLLATE "C" NOT NULL,
    state      TEXT NOT NULL
);
CREATE INDEX change_feed_sop ON change_feed (sop_uid, state);
CREATE INDEX change_feed_study ON change_feed (study_uid, seq);

-- Background workers driven by the change feed (the FHIR push): where each has got to, and
-- which node holds it now (a lease, so that one node works at a time).
CREATE TABLE feed_workers (
    name        TEXT PRIMARY KEY,
    cursor      BIGINT NOT NULL DEFAULT 0,
    holder      TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT
);
