//! `/jobs`: exports (and de-identifications, [`super::deid_jobs`]) run by the server for
//! callers without shell access. `POST /jobs/export` checks the request and answers 202 with
//! the job's URL; `GET /jobs/{job}` reports its state and progress, `GET /jobs/{job}/errors`
//! the instances it could not export, and `DELETE /jobs/{job}` cancels it. Jobs live in the
//! index, so any node answers for any job.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::error::ApiError;
use super::path::query_pairs;
use super::AppState;
use crate::auth::Principal;
use crate::jobs::{new_id, Job, JobProgress, JobState};
use crate::ops::export::job::{check_request, ExportRequest};
use crate::time::{now_micros, rfc3339_millis};

/// Errors listed per page, by default and at most.
const ERRORS_PAGE: u32 = 100;
const ERRORS_MAX: u32 = 1000;

pub(super) fn job_json(job: &Job) -> Value {
    // The destination without its query string: it may hold a SAS or other secret (an
    // export's "to", a de-identification's "target"."to").
    let mut request: Value = serde_json::from_str(&job.request).unwrap_or(Value::Null);
    redact(request.get_mut("to"));
    redact(request.get_mut("target").and_then(|t| t.get_mut("to")));
    json!({
        "id": job.id,
        "kind": job.kind,
        "state": job.state.name(),
        "createdBy": job.created_by,
        "created": rfc3339_millis(job.created_at),
        "updated": rfc3339_millis(job.updated_at),
        "total": job.progress.total,
        "done": job.progress.done,
        "failed": job.progress.failed,
        "refused": job.progress.refused,
        "bytes": job.progress.bytes,
        "cancelRequested": job.cancel_requested,
        "message": job.message,
        "request": request,
        "errors": format!("/jobs/{}/errors", job.id),
        "mapping": (job.kind == "deidentify").then(|| format!("/jobs/{}/mapping", job.id)),
    })
}

fn redact(to: Option<&mut Value>) {
    if let Some(to) = to {
        if let Some(text) = to.as_str() {
            *to = json!(text.split('?').next().unwrap_or_default());
        }
    }
}

pub(super) fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{id:?} is not a job id (32 hexadecimal digits)"
        )))
    }
}

/// `POST /jobs/export`: a JSON body `{"studies": [...], "series": [...], "query": "...",
/// "to": "s3://..."}`.
pub async fn create_export(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: ExportRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("the export request: {err}")))?;
    let total = check_request(state.index.as_ref(), &request).await?;
    let subject = principal.and_then(|Extension(p)| p.subject);
    accept(&state, "export", &request, total, subject).await
}

/// Queue a checked request as a job of `kind` for `total` instances: 202 with its Location
/// and the job as JSON.
pub(super) async fn accept(
    state: &AppState,
    kind: &str,
    request: &impl serde::Serialize,
    total: u64,
    created_by: Option<String>,
) -> Result<Response, ApiError> {
    let now = now_micros();
    let job = Job {
        id: new_id(),
        kind: kind.into(),
        state: JobState::Queued,
        request: serde_json::to_string(request)
            .map_err(|err| ApiError::Internal(err.to_string()))?,
        created_by,
        created_at: now,
        updated_at: now,
        progress: JobProgress {
            total,
            ..JobProgress::default()
        },
        cancel_requested: false,
        message: None,
    };
    let jobs = std::sync::Arc::clone(&state.index).job_store();
    jobs.create_job(&job).await?;
    let location = format!("/jobs/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job_json(&job)),
    )
        .into_response())
}

/// `GET /jobs/{job}`.
pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let jobs = std::sync::Arc::clone(&state.index).job_store();
    match jobs.job(&id).await? {
        Some(job) => Ok(Json(job_json(&job)).into_response()),
        None => Err(ApiError::NotFound(format!("no job {id}"))),
    }
}

/// `GET /jobs/{job}/errors?limit=N&offset=M`: the instances the job's latest run could not
/// export, with why.
pub async fn get_errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let (limit, offset) = page_params(raw.as_deref(), ERRORS_PAGE, ERRORS_MAX)?;
    let jobs = std::sync::Arc::clone(&state.index).job_store();
    if jobs.job(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no job {id}")));
    }
    let errors = jobs.job_errors(&id, limit, offset).await?;
    let body: Vec<Value> = errors
        .into_iter()
        .map(|e| {
            json!({
                "StudyInstanceUID": e.study_uid,
                "SeriesInstanceUID": e.series_uid,
                "SOPInstanceUID": e.sop_uid,
                "message": e.message,
            })
        })
        .collect();
    Ok(Json(body).into_response())
}

/// `DELETE /jobs/{job}`: cancel it (at once when queued, at its next report when running);
/// answers the job. A finished job is answered as it is.
pub async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let jobs = std::sync::Arc::clone(&state.index).job_store();
    match jobs.cancel_job(&id, now_micros()).await? {
        Some(job) => Ok((StatusCode::ACCEPTED, Json(job_json(&job))).into_response()),
        None => Err(ApiError::NotFound(format!("no job {id}"))),
    }
}

/// `limit` and `offset` of a page of a job's rows (`default` rows unless asked, at most `max`);
/// any other parameter is refused.
pub(super) fn page_params(
    raw: Option<&str>,
    default: u32,
    max: u32,
) -> Result<(u32, u64), ApiError> {
    let mut limit = default;
    let mut offset = 0u64;
    for (key, value) in query_pairs(raw) {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be between 1 and {max}, not {value:?}"
                        ))
                    })?
            }
            "offset" => {
                offset = value.parse().map_err(|_| {
                    ApiError::BadRequest(format!("offset must be a number >= 0, not {value:?}"))
                })?
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter {other:?} (limit, offset)"
                )))
            }
        }
    }
    Ok((limit, offset))
}
