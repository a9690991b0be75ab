-- Jobs run by the archive (POST /jobs/export): held here so that any node reports them and
-- another node resumes one whose node stopped (holder + lease_until, as the FHIR push).
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL,
    request          TEXT NOT NULL,
    created_by       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    total            BIGINT NOT NULL DEFAULT 0,
    done             BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    bytes            BIGINT NOT NULL DEFAULT 0,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    holder           TEXT,
    lease_until      BIGINT,
    message          TEXT
);
CREATE INDEX jobs_state ON jobs (state, created_at);

-- The instances the latest run of a job could not handle.
CREATE TABLE job_errors (
    job_id     TEXT NOT NULL,
    position   BIGINT NOT NULL,
    study_uid  TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid    TEXT NOT NULL,
    message    TEXT NOT NULL,
    PRIMARY KEY (job_id, position)
);
