//! `POST /jobs/deidentify` (a de-identification run by the server as a job; its progress,
//! errors and cancel are those of every job, [`super::jobs`]) and `GET /jobs/{job}/mapping`,
//! the mapping table of a job or of a `tessera deidentify` run: original UIDs and Patient
//! IDs beside their replacements, for admins only (the route table says so).

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::error::ApiError;
use super::jobs::{accept, check_id, page_params};
use super::AppState;
use crate::auth::Principal;
use crate::ops::deidentify::job::{check_request, DeidentifyRequest};
use crate::partition::PartitionName;
use crate::time::rfc3339_millis;

/// Mapping rows per page, by default and at most.
const MAPPING_PAGE: u32 = 1000;
const MAPPING_MAX: u32 = 10000;

/// `POST /jobs/deidentify`: a JSON body `{"source": {"studies": [...], "series": [...],
/// "query": "..."}, "target": {"to": "s3://..."} or {"partition": "NAME"}, "project": "NAME",
/// "options": ["retain-uids", ...], "allowBurnedIn": false}`.
pub async fn create_deidentify(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: DeidentifyRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("the de-identification request: {err}")))?;
    // Partitions the caller is not allowed are refused before anything about them is said.
    if let Some(Extension(principal)) = &principal {
        for name in request.partitions() {
            let allowed = PartitionName::parse(name)
                .map(|name| principal.partitions.allows(&name))
                .unwrap_or(true);
            if !allowed {
                return Err(ApiError::Forbidden(format!(
                    "this credential may not use partition {name:?}"
                )));
            }
        }
    }
    let total = check_request(&state.index, &state.store, &state.deidentify, &request).await?;
    let subject = principal.and_then(|Extension(p)| p.subject);
    accept(&state, "deidentify", &request, total, subject).await
}

/// `GET /jobs/{job}/mapping?limit=N&offset=M`: a page of the run's mapping, by kind and
/// original.
pub async fn get_mapping(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let (limit, offset) = page_params(raw.as_deref(), MAPPING_PAGE, MAPPING_MAX)?;
    let jobs = std::sync::Arc::clone(&state.index).job_store();
    let run = jobs.deid_run(&id).await?;
    // A job that has not run yet (or an export job) has no run: an empty mapping.
    if run.is_none() && jobs.job(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "no job or de-identification run {id}"
        )));
    }
    let rows = jobs.mapping(&id, limit, offset).await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "kind": row.kind.name(),
                "original": row.original,
                "replacement": row.replacement,
            })
        })
        .collect();
    Ok(Json(json!({
        "run": id,
        "project": run.as_ref().map(|r| r.project.clone()),
        "source": run.as_ref().map(|r| r.source.clone()),
        "options": run.as_ref().map(|r| r.options.clone()),
        "created": run.as_ref().map(|r| rfc3339_millis(r.created_at)),
        "limit": limit,
        "offset": offset,
        "rows": rows,
    }))
    .into_response())
}
