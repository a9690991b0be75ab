//! STOW-RS handlers (PS3.18 10.5): `POST /dicom-web/studies[/{study}]` with
//! `multipart/related; type="application/dicom"` or a single `application/dicom` body.
//! The body is streamed part by part; nothing is kept but the part being parsed and the
//! few blob writes in flight.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::access::TouchedStudies;
use super::path::study_uid;
use super::stow_body::{body_kind, BodyKind, PartLimits, Parts};
use super::{stow_response, AppState};
use crate::http::error::ApiError;
use crate::ingest::{IngestSession, ItemReport};
use tessera_dicom::status::StatusCode;
use tessera_dicom::uid::StudyUid;

pub async fn store(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    handle(state, headers, None, body).await
}

pub async fn store_in_study(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let study = study_uid(&study)?;
    handle(state, headers, Some(study), body).await
}

#[tracing::instrument(name = "stow", skip_all, fields(stored, failed, warnings))]
async fn handle(
    state: AppState,
    headers: HeaderMap,
    study: Option<StudyUid>,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = body_kind(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.max_request_bytes) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the request is larger than the maximum of {} bytes",
            state.max_request_bytes
        )));
    }
    let mut session = state.ingest.session(study.clone());
    let read = match kind {
        BodyKind::Multipart { boundary } => {
            read_multipart(&state, &mut session, body, boundary, declared).await
        }
        BodyKind::Single => read_single(&state, &mut session, body, declared).await,
    };
    if let Err(err) = read {
        return failed(session, err, &state, &headers, study.as_ref()).await;
    }
    if session.is_empty() {
        session.abort().await;
        return Err(ApiError::BadRequest(
            "the request holds no DICOM instances".into(),
        ));
    }
    let reports = match session.try_finish().await {
        Ok(reports) => reports,
        Err((err, session)) => {
            return failed(session, err.into(), &state, &headers, study.as_ref()).await;
        }
    };
    let span = tracing::Span::current();
    let failed = reports.iter().filter(|r| r.is_failure()).count();
    span.record("stored", reports.len() - failed);
    span.record("failed", failed);
    span.record(
        "warnings",
        reports.iter().filter(|r| r.has_warning()).count(),
    );
    tracing::info!("stow done");
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let mut response = stow_response::respond(
        &reports,
        &state.dicomweb_root(&headers),
        study.as_ref(),
        accept,
    );
    // The audit trail records each study stored into.
    let mut studies: Vec<String> = Vec::new();
    for report in &reports {
        if let ItemReport::Stored { study, .. } = report {
            if !studies.iter().any(|s| s == study.as_str()) {
                studies.push(study.as_str().to_string());
            }
        }
    }
    response.extensions_mut().insert(TouchedStudies(studies));
    Ok(response)
}

/// The end of a request that failed: a store or index failure answered by [`store_failure`]
/// (every instance read so far listed), anything else as its error; nothing of it is kept.
async fn failed(
    session: IngestSession,
    err: ApiError,
    state: &AppState,
    headers: &HeaderMap,
    study: Option<&StudyUid>,
) -> Result<Response, ApiError> {
    if let ApiError::Storage(_) | ApiError::Index(_) = &err {
        let reports = session.fail(&err.to_string()).await;
        return Ok(store_failure(err, &reports, state, headers, study));
    }
    session.abort().await;
    Err(err)
}

/// The answer when the store or the index failed part-way (disk full, store or database
/// unreachable): the status of `err` (507 when full, else 503, with Retry-After) and, when
/// any instance of the request had been read, the STOW body listing each one in the
/// FailedSOPSequence with its reason (A700) and the reason in words in a Warning header.
fn store_failure(
    err: ApiError,
    reports: &[ItemReport],
    state: &AppState,
    headers: &HeaderMap,
    study: Option<&StudyUid>,
) -> Response {
    let error_response = err.into_response();
    if reports.is_empty() {
        return error_response;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let mut response =
        stow_response::respond(reports, &state.dicomweb_root(headers), study, accept);
    *response.status_mut() = error_response.status();
    if let Some(retry) = error_response.headers().get(header::RETRY_AFTER) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    response
}

/// Read the parts one at a time into the session. A part beyond `max_parts_per_request`
/// ends the request (413) before any of its bytes are read, and the caller drops what the
/// earlier parts wrote: the request is refused whole, none of it stored.
async fn read_multipart(
    state: &AppState,
    session: &mut IngestSession,
    body: Body,
    boundary: String,
    declared: Option<u64>,
) -> Result<(), ApiError> {
    let max_part = state.ingest.max_instance_bytes;
    let limits = PartLimits {
        request_bytes: state.max_request_bytes,
        part_bytes: max_part,
        parts: state.max_parts_per_request,
    };
    let mut parts = Parts::new(body.into_data_stream(), boundary, limits);
    // The first part's buffer is sized by the request's Content-Length, every later one by
    // the part before it (a series' instances are mostly one size): a part is then copied
    // in once, not regrown by doubling. Parts above the spool limit go to a staging file as
    // they arrive (`ingest::spool`): storing one 88 MiB cine peaked at 300-330 MB of server
    // RSS with doubling, 180-210 MB sized; spooled, storing the MR series and the cine of
    // the WADO benchmark raised the server's RSS by 52 MB instead of 97 MB.
    let mut expected = declared.map_or(0, |len| len.min(max_part));
    while let Some(mut part) = parts.next().await? {
        let mut spool = state.ingest.spool(expected);
        while let Some(chunk) = part.chunk().await? {
            spool.push(&chunk).await?;
        }
        expected = spool.len();
        if part.is_dicom {
            session.add(spool.finish().await?).await?;
        } else {
            session.reject_part(
                StatusCode::CANNOT_UNDERSTAND,
                "a part is not application/dicom".into(),
            );
        }
    }
    Ok(())
}

async fn read_single(
    state: &AppState,
    session: &mut IngestSession,
    body: Body,
    declared: Option<u64>,
) -> Result<(), ApiError> {
    let limit = state.ingest.max_instance_bytes.min(state.max_request_bytes);
    let mut stream = body.into_data_stream();
    // Sized by Content-Length when given, spooled above the limit (see `read_multipart`).
    let mut spool = state.ingest.spool(declared.map_or(0, |len| len.min(limit)));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| ApiError::body_read(&err, "reading the body failed"))?;
        if spool.len() + chunk.len() as u64 > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "the instance is larger than the maximum of {limit} bytes"
            )));
        }
        spool.push(&chunk).await?;
    }
    if spool.is_empty() {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    session.add(spool.finish().await?).await?;
    Ok(())
}
