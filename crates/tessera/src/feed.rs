//! The change feed as clients read it (`GET /dicom-web/changefeed`): entries in sequence
//! order, shaped like Azure's DICOM service change feed.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::index::IndexError;
use crate::index::{ChangeEntry, Index};

/// Entries per page unless asked, and at most.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 10_000;

pub struct FeedService {
    pub index: Arc<dyn Index>,
}

impl FeedService {
    /// Entries after `start_after`, oldest first.
    pub async fn page(
        &self,
        start_after: i64,
        limit: u32,
        with_metadata: bool,
    ) -> Result<Vec<Value>, IndexError> {
        let entries = self
            .index
            .changes(start_after, limit.min(MAX_LIMIT), with_metadata)
            .await?;
        entries.iter().map(|e| to_json(e, with_metadata)).collect()
    }

    /// The newest entry, if any.
    pub async fn latest(&self, with_metadata: bool) -> Result<Option<Value>, IndexError> {
        let Some(latest) = self.index.latest_change(None).await? else {
            return Ok(None);
        };
        let entry = if with_metadata {
            // The same entry again, joined with the instance's metadata.
            let again = self.index.changes(latest.seq - 1, 1, true).await?;
            again.into_iter().next().unwrap_or(latest)
        } else {
            latest
        };
        to_json(&entry, with_metadata).map(Some)
    }
}

fn to_json(entry: &ChangeEntry, with_metadata: bool) -> Result<Value, IndexError> {
    let mut out = Map::new();
    out.insert("Sequence".into(), json!(entry.seq));
    out.insert("StudyInstanceUid".into(), json!(entry.study_uid));
    out.insert("SeriesInstanceUid".into(), json!(entry.series_uid));
    out.insert("SopInstanceUid".into(), json!(entry.sop_uid));
    out.insert("Action".into(), json!(entry.action.as_str()));
    out.insert(
        "Timestamp".into(),
        json!(crate::time::rfc3339_micros(entry.changed_at)),
    );
    out.insert("State".into(), json!(entry.state.as_str()));
    if with_metadata {
        let metadata = match &entry.metadata {
            Some(text) => serde_json::from_str(text)
                .map_err(|err| IndexError::Corrupt(format!("stored metadata: {err}")))?,
            None => Value::Null,
        };
        out.insert("Metadata".into(), metadata);
    }
    Ok(Value::Object(out))
}
