//! `DELETE /dicom-web/studies/{study}[/series/{series}[/instances/{instance}]]`: 204 when
//! something was deleted, 404 when nothing stored matches.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::path::{series_uid, sop_uid, study_uid};
use super::AppState;
use crate::http::error::ApiError;
use crate::index::DeleteTarget;

async fn run(state: &AppState, target: DeleteTarget, what: String) -> Result<StatusCode, ApiError> {
    match state.delete.delete(target).await? {
        Some(report) => {
            tracing::info!(
                instances = report.instances,
                blobs_left = report.blobs_left,
                "deleted"
            );
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::NotFound(format!("{what} is not stored"))),
    }
}

pub(super) async fn delete_study(
    State(state): State<AppState>,
    Path(study): Path<String>,
) -> Result<StatusCode, ApiError> {
    let target = DeleteTarget {
        study: study_uid(&study)?,
        series: None,
        sop: None,
    };
    run(&state, target, format!("study {study}")).await
}

pub(super) async fn delete_series(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let target = DeleteTarget {
        study: study_uid(&study)?,
        series: Some(series_uid(&series)?),
        sop: None,
    };
    run(&state, target, format!("series {series} of study {study}")).await
}

pub(super) async fn delete_instance(
    State(state): State<AppState>,
    Path((study, series, instance)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let target = DeleteTarget {
        study: study_uid(&study)?,
        series: Some(series_uid(&series)?),
        sop: Some(sop_uid(&instance)?),
    };
    run(
        &state,
        target,
        format!("instance {instance} of series {series} of study {study}"),
    )
    .await
}
