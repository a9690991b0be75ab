//! What `tessera check` can find wrong, as a line for people and a JSON object for scripts.

use serde_json::{json, Value};

use crate::index::CountMismatch;

/// One thing wrong between the index and the blob store.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// An instance row whose blob is not in the store: the instance cannot be retrieved.
    MissingBlob {
        study: String,
        series: String,
        sop: String,
        key: String,
    },
    /// The blob's size is not the one recorded at ingest.
    SizeMismatch {
        sop: String,
        key: String,
        recorded: u64,
        actual: u64,
    },
    /// A frame's recorded byte range ends past the blob's end.
    FrameOutside {
        sop: String,
        key: String,
        frame: usize,
        end: u64,
        size: u64,
    },
    /// The blob's SHA-256 is not the one recorded at ingest (`--verify`).
    HashMismatch {
        sop: String,
        key: String,
        recorded: String,
        actual: String,
    },
    /// The blob does not parse, or is another instance than its row says (`--verify`).
    WrongContent {
        sop: String,
        key: String,
        reason: String,
    },
    /// A blob no instance row references, older than the grace period.
    OrphanBlob { key: String, size: u64 },
    /// A study or series row whose counts are not those of its rows.
    Counts(CountMismatch),
}

impl Finding {
    /// The kind, as in the report's `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::MissingBlob { .. } => "missing_blob",
            Finding::SizeMismatch { .. } => "size_mismatch",
            Finding::FrameOutside { .. } => "frame_outside_blob",
            Finding::HashMismatch { .. } => "hash_mismatch",
            Finding::WrongContent { .. } => "wrong_content",
            Finding::OrphanBlob { .. } => "orphan_blob",
            Finding::Counts(CountMismatch::MissingParent { .. }) => "missing_parent_row",
            Finding::Counts(_) => "count_mismatch",
        }
    }

    /// One line for people.
    pub fn line(&self) -> String {
        match self {
            Finding::MissingBlob {
                study,
                series,
                sop,
                key,
            } => format!(
                "row without blob: instance {sop} (study {study}, series {series}) points at {key}, which is not in the store"
            ),
            Finding::SizeMismatch {
                sop,
                key,
                recorded,
                actual,
            } => format!(
                "size differs: instance {sop}, blob {key} has {actual} bytes, {recorded} recorded"
            ),
            Finding::FrameOutside {
                sop,
                key,
                frame,
                end,
                size,
            } => format!(
                "frame outside blob: instance {sop}, frame {frame} ends at byte {end} of {key}, which has {size}"
            ),
            Finding::HashMismatch {
                sop,
                key,
                recorded,
                actual,
            } => format!(
                "hash differs: instance {sop}, blob {key} has SHA-256 {actual}, {recorded} recorded"
            ),
            Finding::WrongContent { sop, key, reason } => {
                format!("content wrong: instance {sop}, blob {key}: {reason}")
            }
            Finding::OrphanBlob { key, size } => {
                format!("blob without row: {key} ({size} bytes)")
            }
            Finding::Counts(CountMismatch::Study {
                study_uid,
                recorded_series,
                actual_series,
                recorded_instances,
                actual_instances,
            }) => format!(
                "study counts differ: {study_uid} records {recorded_series} series and {recorded_instances} instances, has {actual_series} and {actual_instances}"
            ),
            Finding::Counts(CountMismatch::Series {
                series_uid,
                recorded_instances,
                actual_instances,
                ..
            }) => format!(
                "series count differs: {series_uid} records {recorded_instances} instances, has {actual_instances}"
            ),
            Finding::Counts(CountMismatch::MissingParent {
                study_uid,
                series_uid,
                level,
            }) => format!(
                "instances without a {level} row: series {series_uid} of study {study_uid}"
            ),
        }
    }

    /// One JSON object for the report.
    pub fn json(&self, repaired: bool) -> Value {
        let mut value = match self {
            Finding::MissingBlob {
                study,
                series,
                sop,
                key,
            } => json!({"study": study, "series": series, "sop": sop, "key": key}),
            Finding::SizeMismatch {
                sop,
                key,
                recorded,
                actual,
            } => json!({"sop": sop, "key": key, "recorded": recorded, "actual": actual}),
            Finding::FrameOutside {
                sop,
                key,
                frame,
                end,
                size,
            } => json!({"sop": sop, "key": key, "frame": frame, "end": end, "size": size}),
            Finding::HashMismatch {
                sop,
                key,
                recorded,
                actual,
            } => json!({"sop": sop, "key": key, "recorded": recorded, "actual": actual}),
            Finding::WrongContent { sop, key, reason } => {
                json!({"sop": sop, "key": key, "reason": reason})
            }
            Finding::OrphanBlob { key, size } => json!({"key": key, "size": size}),
            Finding::Counts(CountMismatch::Study {
                study_uid,
                recorded_series,
                actual_series,
                recorded_instances,
                actual_instances,
            }) => json!({
                "study": study_uid,
                "recorded_series": recorded_series, "actual_series": actual_series,
                "recorded_instances": recorded_instances, "actual_instances": actual_instances,
            }),
            Finding::Counts(CountMismatch::Series {
                study_uid,
                series_uid,
                recorded_instances,
                actual_instances,
            }) => json!({
                "study": study_uid, "series": series_uid,
                "recorded_instances": recorded_instances, "actual_instances": actual_instances,
            }),
            Finding::Counts(CountMismatch::MissingParent {
                study_uid,
                series_uid,
                level,
            }) => json!({"study": study_uid, "series": series_uid, "missing": level}),
        };
        value["kind"] = json!(self.kind());
        value["repaired"] = json!(repaired);
        value
    }
}
