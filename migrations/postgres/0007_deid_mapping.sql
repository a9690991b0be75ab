-- De-identification as an archive operation (issue 19). Independent of 0006.

-- Instances a de-identification refused (burned-in text, unreadable): counted apart from
-- those that failed (a missing blob, a destination that refused them).
ALTER TABLE jobs ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;

-- One de-identification run: a job (its id) or a `tessera deidentify` command (an id of
-- its own), with the project whose secret made its replacement values.
CREATE TABLE deid_runs (
    id         TEXT PRIMARY KEY NOT NULL,
    project    TEXT NOT NULL,
    source     TEXT NOT NULL,
    options    TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL
);

-- What a run replaced: original UID -> new UID, original Patient ID -> pseudonym, original
-- Patient ID -> days its dates moved. Re-identification data: read by admins only.
CREATE TABLE deid_mapping (
    run_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    original    TEXT NOT NULL,
    replacement TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, original)
);
