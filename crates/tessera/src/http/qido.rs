//! QIDO-RS handlers (PS3.18 10.6): parse the path and query string, negotiate JSON or XML,
//! and add the Warning the standard asks for when the server's limit cut the results.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::media::accept_ranges;
use super::path::{query_pairs, series_uid, study_uid};
use super::AppState;
use crate::http::error::ApiError;
use crate::query::attributes::Level;
use crate::search::response::SearchResults;
use tessera_dicom::uid::{SeriesUid, StudyUid};
use tessera_dicom::xml::native_dicom_model;

const CUT_WARNING: &str = "299 tessera \"The number of results exceeded the maximum supported by the server. Additional results can be requested.\"";

fn wants_xml(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    for range in accept_ranges(accept) {
        let xml = range.essence == "application/dicom+xml"
            || (range.essence == "multipart/related"
                && range.param("type") == Some("application/dicom+xml"));
        if xml {
            return true;
        }
        if matches!(
            range.essence.as_str(),
            "application/dicom+json" | "application/json" | "*/*" | "application/*"
        ) {
            return false;
        }
    }
    false
}

fn respond(results: SearchResults, headers: &HeaderMap) -> Response {
    let mut response = if wants_xml(headers) {
        let boundary = format!("tessera-{:016x}", rand::random::<u64>());
        let items: Vec<Value> = serde_json::from_str(&results.json).unwrap_or_default();
        let mut body = String::new();
        for item in &items {
            if let Value::Object(map) = item {
                body.push_str(&format!(
                    "--{boundary}\r\nContent-Type: application/dicom+xml\r\n\r\n{}\r\n",
                    native_dicom_model(map)
                ));
            }
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let content_type =
            format!("multipart/related; type=\"application/dicom+xml\"; boundary={boundary}");
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/dicom+json")],
            results.json,
        )
            .into_response()
    };
    if results.cut_by_server {
        response
            .headers_mut()
            .insert(header::WARNING, HeaderValue::from_static(CUT_WARNING));
    }
    response
}

async fn answer(
    state: AppState,
    headers: HeaderMap,
    level: Level,
    study: Option<StudyUid>,
    series: Option<SeriesUid>,
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let root = state.dicomweb_root(&headers);
    let results = state
        .search
        .search(level, study, series, &query_pairs(raw.as_deref()), &root)
        .await?;
    Ok(respond(results, &headers))
}

pub async fn studies(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(state, headers, Level::Study, None, None, raw).await
}

pub async fn series(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(state, headers, Level::Series, None, None, raw).await
}

pub async fn instances(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    answer(state, headers, Level::Instance, None, None, raw).await
}

pub async fn study_series(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let study = study_uid(&study)?;
    answer(state, headers, Level::Series, Some(study), None, raw).await
}

pub async fn study_instances(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let study = study_uid(&study)?;
    answer(state, headers, Level::Instance, Some(study), None, raw).await
}

pub async fn series_instances(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series) = (study_uid(&study)?, series_uid(&series)?);
    answer(
        state,
        headers,
        Level::Instance,
        Some(study),
        Some(series),
        raw,
    )
    .await
}
