//! Which instances an export takes: whole studies, series, or the studies a QIDO-RS query
//! matches, each instance once, in study, series and instance order.

use std::collections::BTreeSet;

use crate::index::{Index, InstanceRow};
use crate::ops::OpsError;
use crate::query::values::RowValue;
use crate::query::{parse, Level, Limits};
use tessera_dicom::uid::{SeriesUid, StudyUid};

/// Studies found per query page.
const PAGE: u32 = 1000;

/// What to export.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub studies: Vec<String>,
    pub series: Vec<String>,
    /// QIDO-RS study-level query parameters, as in a URL (`PatientID=X&StudyDate=2020`).
    pub query: Option<String>,
}

/// The instance rows (without metadata) of everything selected. A UID that names nothing
/// stored is an error: an export that silently skips a study it was asked for would be
/// believed complete.
pub async fn instances(
    index: &dyn Index,
    selection: &Selection,
) -> Result<Vec<InstanceRow>, OpsError> {
    let mut studies: Vec<StudyUid> = Vec::new();
    for uid in &selection.studies {
        studies.push(
            StudyUid::parse(uid).map_err(|e| OpsError::Invalid(format!("study {uid:?}: {e}")))?,
        );
    }
    if let Some(query) = &selection.query {
        studies.extend(matching_studies(index, query).await?);
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut rows = Vec::new();
    for study in studies {
        if !seen.insert(study.to_string()) {
            continue;
        }
        let found = index.instances_of(&study, None, None).await?;
        if found.is_empty() && selection.studies.contains(&study.to_string()) {
            return Err(OpsError::Invalid(format!(
                "--study {study}: no such study is stored"
            )));
        }
        rows.extend(found);
    }
    for uid in &selection.series {
        let series =
            SeriesUid::parse(uid).map_err(|e| OpsError::Invalid(format!("series {uid:?}: {e}")))?;
        let Some(row) = index.series(&series).await? else {
            return Err(OpsError::Invalid(format!(
                "--series {uid}: no such series is stored"
            )));
        };
        if seen.contains(&row.study_uid) {
            continue;
        }
        let study = StudyUid::parse(&row.study_uid)
            .map_err(|e| OpsError::Invalid(format!("a stored study UID is not valid: {e}")))?;
        rows.extend(index.instances_of(&study, Some(&series), None).await?);
    }
    let mut unique: BTreeSet<String> = BTreeSet::new();
    rows.retain(|row| unique.insert(row.sop_uid.clone()));
    Ok(rows)
}

/// The studies a study-level QIDO-RS query matches, every page of them.
async fn matching_studies(index: &dyn Index, query: &str) -> Result<Vec<StudyUid>, OpsError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .filter(|(k, _)| !matches!(k.to_ascii_lowercase().as_str(), "limit" | "offset"))
            .collect();
    let limits = Limits {
        default_limit: PAGE,
        max_limit: PAGE,
    };
    let mut found = Vec::new();
    let mut offset = 0u64;
    loop {
        let mut paged = pairs.clone();
        paged.push(("limit".into(), PAGE.to_string()));
        paged.push(("offset".into(), offset.to_string()));
        let parsed = parse::parse(Level::Study, None, None, &paged, &[], limits)
            .map_err(|e| OpsError::Invalid(format!("the query: {e}")))?;
        let rows = index.search(&parsed).await?;
        let page = rows.len().min(PAGE as usize);
        for row in rows.iter().take(page) {
            if let Some(RowValue::Text(Some(uid))) = row.values.get("StudyInstanceUID") {
                found.push(StudyUid::parse(uid).map_err(|e| {
                    OpsError::Invalid(format!("a stored study UID is not valid: {e}"))
                })?);
            }
        }
        if rows.len() <= PAGE as usize {
            return Ok(found);
        }
        offset += u64::from(PAGE);
    }
}
