-- Core index: studies (with patient attributes), series, instances.
-- UIDs use the "C" collation: byte order, which is what they sort by, at a fraction of the
-- cost of a locale collation.
-- Counts and ModalitiesInStudy are maintained by the writer in the same transaction.

CREATE TABLE studies (
    study_uid                TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    patient_name             TEXT,
    patient_id               TEXT,
    issuer_of_patient_id     TEXT,
    patient_birth_date       TEXT,
    patient_sex              TEXT,
    study_date               TEXT,
    study_time               TEXT,
    timezone_offset          TEXT,
    accession_number         TEXT,
    study_id                 TEXT,
    study_description        TEXT,
    referring_physician_name TEXT,
    specific_character_set   TEXT,
    -- Matching forms (see src/dicom/person_name.rs and src/dicom/datetime.rs).
    pn_patient_a             TEXT,
    pn_patient_i             TEXT,
    pn_patient_p             TEXT,
    pn_referring_a           TEXT,
    pn_referring_i           TEXT,
    pn_referring_p           TEXT,
    study_time_norm          TEXT,
    study_datetime           TEXT,
    modalities_in_study      TEXT,
    sop_classes_in_study     TEXT,
    -- The study's default QIDO attributes as DICOM JSON members, kept current by the writer.
    qido_json                TEXT,
    num_series               BIGINT NOT NULL DEFAULT 0,
    num_instances            BIGINT NOT NULL DEFAULT 0,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX studies_patient_id ON studies (patient_id text_pattern_ops);
CREATE INDEX studies_patient_name ON studies (patient_name);
CREATE INDEX studies_study_date ON studies (study_date, study_uid);
CREATE INDEX studies_study_datetime ON studies (study_datetime);
CREATE INDEX studies_pn_patient_a ON studies (pn_patient_a text_pattern_ops);
CREATE INDEX studies_pn_patient_i ON studies (pn_patient_i text_pattern_ops);
CREATE INDEX studies_pn_patient_p ON studies (pn_patient_p text_pattern_ops);
CREATE INDEX studies_study_id ON studies (study_id);
CREATE INDEX studies_accession_number ON studies (accession_number text_pattern_ops);

CREATE TABLE series (
    series_uid          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    study_uid           TEXT COLLATE "C" NOT NULL,
    modality            TEXT,
    series_number       BIGINT,
    series_description  TEXT,
    series_date         TEXT,
    series_time         TEXT,
    pps_start_date      TEXT,
    pps_start_time      TEXT,
    pps_start_time_norm TEXT,
    body_part_examined  TEXT,
    laterality          TEXT,
    num_instances       BIGINT NOT NULL DEFAULT 0,
    qido_json           TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX series_study ON series (study_uid, series_number);
CREATE INDEX series_modality ON series (modality, study_uid);

CREATE TABLE instances (
    sop_uid                    TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    series_uid                 TEXT COLLATE "C" NOT NULL,
    study_uid                  TEXT COLLATE "C" NOT NULL,
    sop_class_uid              TEXT COLLATE "C" NOT NULL,
    instance_number            BIGINT,
    num_rows                   BIGINT,
    num_columns                BIGINT,
    bits_allocated             BIGINT,
    samples_per_pixel          BIGINT,
    number_of_frames           BIGINT,
    photometric_interpretation TEXT,
    transfer_syntax_uid        TEXT COLLATE "C" NOT NULL,
    blob_key                   TEXT NOT NULL UNIQUE,
    blob_size                  BIGINT NOT NULL,
    frames                     TEXT,
    metadata                   TEXT NOT NULL,
    qido_json                  TEXT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);
CREATE INDEX instances_series ON instances (series_uid, instance_number);
CREATE INDEX instances_study ON instances (study_uid);

-- Words of person names for fuzzy matching (src/dicom/person_name.rs): one row per word
-- of each component; position is the group letter and component number, e.g. a1.
CREATE TABLE name_words (
    study_uid TEXT COLLATE "C" NOT NULL,
    attribute TEXT NOT NULL,
    position  TEXT NOT NULL,
    word      TEXT NOT NULL
);
CREATE INDEX name_words_word ON name_words (attribute, word text_pattern_ops, study_uid);
CREATE INDEX name_words_study ON name_words (study_uid);

-- Extra query attributes named by the operator (Orthanc's ExtraMainDicomTags, Azure's
-- extended query tags): which are indexed, and their values per study, series or instance.
CREATE TABLE extra_query_tags (
    tag        TEXT PRIMARY KEY NOT NULL,
    level      TEXT NOT NULL,
    vr         TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE extra_query_values (
    tag        TEXT NOT NULL,
    owner_uid  TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    value_norm TEXT,
    PRIMARY KEY (tag, owner_uid, value)
);
CREATE INDEX extra_query_values_value ON extra_query_values (tag, value text_pattern_ops);
CREATE INDEX extra_query_values_norm ON extra_query_values (tag, value_norm);
CREATE INDEX extra_query_values_owner ON extra_query_values (owner_uid);
