-- API keys: only the SHA-256 of each secret is kept (the secret is shown once, at creation).
-- Names are unique among keys not revoked; a revoked key stays listed, and refused.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    roles        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- The audit trail: one row per access to PHI, failed authentication or API-key change.
-- Nothing in Tessera updates a row; rows go only when older than the retention setting.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY NOT NULL,
    recorded_at INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    interaction TEXT,
    action      TEXT NOT NULL,
    outcome     INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    subject     TEXT,
    client_id   TEXT,
    api_key     TEXT,
    issuer      TEXT,
    address     TEXT,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    query       TEXT,
    patient_id  TEXT,
    study_uid   TEXT,
    series_uid  TEXT,
    sop_uid     TEXT,
    detail      TEXT
);
CREATE INDEX audit_events_recorded ON audit_events (recorded_at);
CREATE INDEX audit_events_study ON audit_events (study_uid, recorded_at);
CREATE INDEX audit_events_patient ON audit_events (patient_id, recorded_at);
CREATE INDEX audit_events_subject ON audit_events (subject, recorded_at);
