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
    out.insert("Timestamp".into(), json!(rfc3339_micros(entry.changed_at)));
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

/// Microseconds since the Unix epoch as an RFC 3339 UTC time, e.g. `2026-11-27T17:03:08.483412Z`.
pub fn rfc3339_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339_micros;

    #[test]
    fn formats_epoch_micros() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29T12:34:56.000789Z
        assert_eq!(
            rfc3339_micros(951_827_696_000_789),
            "2000-02-29T12:34:56.000789Z"
        );
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
    }
}
