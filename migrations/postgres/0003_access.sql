-- API keys: only the SHA-256 of each secret is kept (the secret is shown once, at creation).
-- Names are unique among keys not revoked; a revoked key stays listed, and refused.
CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    roles        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- The audit trail: one row per access to PHI, failed authentication or API-key change.
-- Nothing in Tessera updates a row; rows go only when older than the retention setting.
CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    event_type  TEXT NOT NULL,
    interaction TEXT,
    action      TEXT NOT NULL,
    outcome     BIGINT NOT NULL,
    status      BIGINT NOT NULL,
    subject     TEXT,
    client_id   TEXT,
    api_key     TEXT,
    issuer      TEXT,
    address     TEXT,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    query       TEXT,
    patient_id  TEXT,
    study_uid   TEXT COLLATE "C",
    series_uid  TEXT COLLATE "C",
    sop_uid     TEXT COLLATE "C",
    detail      TEXT
);
CREATE INDEX audit_events_recorded ON audit_events (recorded_at);
CREATE INDEX audit_events_study ON audit_events (study_uid, recorded_at);
CREATE INDEX audit_events_patient ON audit_events (patient_id, recorded_at);
CREATE INDEX audit_events_subject ON audit_events (subject, recorded_at);
