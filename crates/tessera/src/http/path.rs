//! What every DICOMweb handler reads from its request line: the UIDs of the path (malformed
//! ones are 400, PS3.18 8.2) and the decoded query parameters, including `accept`
//! (PS3.18 8.3.3.1), which overrides the Accept header.

use crate::http::error::ApiError;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid, UidError};

fn bad(err: UidError) -> ApiError {
    ApiError::BadRequest(format!("path: {err}"))
}

pub fn study_uid(raw: &str) -> Result<StudyUid, ApiError> {
    StudyUid::parse(raw).map_err(bad)
}

pub fn series_uid(raw: &str) -> Result<SeriesUid, ApiError> {
    SeriesUid::parse(raw).map_err(bad)
}

pub fn sop_uid(raw: &str) -> Result<SopInstanceUid, ApiError> {
    SopInstanceUid::parse(raw).map_err(bad)
}

/// The study, series and instance UIDs of an instance path.
pub fn instance_uids(
    study: &str,
    series: &str,
    sop: &str,
) -> Result<(StudyUid, SeriesUid, SopInstanceUid), ApiError> {
    Ok((study_uid(study)?, series_uid(series)?, sop_uid(sop)?))
}

/// Query string pairs, decoded.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `accept` query parameter, which overrides the Accept header.
pub fn accept_parameter(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(name, _)| name == "accept")
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod proptests;
