//! What goes into the index and what comes back out.

use crate::storage::BlobKey;
use tessera_dicom::extract::{ExtractedInstance, FrameRanges};

/// One instance to record, its blob already written.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub extracted: ExtractedInstance,
    pub blob_key: BlobKey,
    pub blob_size: u64,
    /// The blob's SHA-256, lower-case hex (see [`crate::digest`]).
    pub blob_sha256: Option<String>,
}

/// What happened to one instance of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Newly recorded.
    Stored,
    /// Replaced a stored copy (overwrite policy); the old blob may now be deleted.
    Replaced { old_blob: BlobKey },
    /// Already stored, policy reject: nothing changed.
    DuplicateRejected,
    /// Already stored, policy keep-first: nothing changed.
    DuplicateKept,
    /// Its SeriesInstanceUID is already recorded under another study.
    SeriesInOtherStudy { existing_study: String },
}

impl StoreOutcome {
    /// Whether the new blob is now referenced by the index.
    pub fn keeps_new_blob(&self) -> bool {
        matches!(self, StoreOutcome::Stored | StoreOutcome::Replaced { .. })
    }
}

/// A study row.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRow {
    pub study_uid: String,
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    pub accession_number: Option<String>,
    pub study_id: Option<String>,
    pub study_description: Option<String>,
    pub referring_physician_name: Option<String>,
    pub modalities_in_study: Vec<String>,
    pub sop_classes_in_study: Vec<String>,
    pub num_series: i64,
    pub num_instances: i64,
}

/// A series row.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    pub series_uid: String,
    pub study_uid: String,
    pub modality: Option<String>,
    pub series_number: Option<i64>,
    pub series_description: Option<String>,
    pub num_instances: i64,
}

/// An instance row.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRow {
    pub sop_uid: String,
    pub series_uid: String,
    pub study_uid: String,
    pub sop_class_uid: String,
    pub instance_number: Option<i64>,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub bits_allocated: Option<i64>,
    pub number_of_frames: Option<i64>,
    pub transfer_syntax_uid: String,
    pub blob_key: BlobKey,
    pub blob_size: u64,
    pub frames: Option<FrameRanges>,
    /// DICOM JSON text with relative BulkDataURIs (see `dicom::json`).
    pub metadata: String,
    /// Microseconds since the epoch of the last write of this row (for ETags).
    pub updated_at: i64,
}

/// What a WADO-RS metadata document is assembled from: one instance's identity, version and
/// stored DICOM JSON, without the columns a retrieve or a frame needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDocument {
    pub sop_uid: String,
    pub series_uid: String,
    pub study_uid: String,
    /// DICOM JSON text with relative BulkDataURIs (see `dicom::json`).
    pub metadata: String,
    /// Microseconds since the epoch of the last write of this row (for ETags).
    pub updated_at: i64,
}

/// One QIDO result row: the UIDs and the extra columns asked for, by keyword; the stored
/// default members of each level returned (in `SearchQuery::fragment_levels` order); and
/// (when asked for) the stored metadata of the instance, or of a representative one.
#[derive(Debug, Clone)]
pub struct SearchRow {
    pub values: std::collections::BTreeMap<&'static str, crate::query::values::RowValue>,
    pub fragments: Vec<String>,
    pub metadata: Option<String>,
}

/// What a delete names: a study, a series of it, or one instance.
#[derive(Debug, Clone)]
pub struct DeleteTarget {
    pub study: tessera_dicom::uid::StudyUid,
    pub series: Option<tessera_dicom::uid::SeriesUid>,
    pub sop: Option<tessera_dicom::uid::SopInstanceUid>,
}

/// What a delete removed from the index; the blobs are the caller's to remove.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub instances: u64,
    pub blobs: Vec<BlobKey>,
}

/// One instance row, as much as a check of its blob needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobRow {
    pub sop_uid: String,
    pub series_uid: String,
    pub study_uid: String,
    pub blob_key: BlobKey,
    pub blob_size: u64,
    /// None for instances stored before hashes were kept.
    pub blob_sha256: Option<String>,
    pub frames: Option<FrameRanges>,
}

/// A study or series row whose stored counts are not those of its rows, or instance rows
/// whose series or study row is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountMismatch {
    Study {
        study_uid: String,
        recorded_series: i64,
        actual_series: i64,
        recorded_instances: i64,
        actual_instances: i64,
    },
    Series {
        study_uid: String,
        series_uid: String,
        recorded_instances: i64,
        actual_instances: i64,
    },
    /// Instance rows of a series (and study) that has no row of its own.
    MissingParent {
        study_uid: String,
        series_uid: String,
        level: &'static str,
    },
}

impl CountMismatch {
    /// The study to recount.
    pub fn study_uid(&self) -> &str {
        match self {
            CountMismatch::Study { study_uid, .. }
            | CountMismatch::Series { study_uid, .. }
            | CountMismatch::MissingParent { study_uid, .. } => study_uid,
        }
    }
}
