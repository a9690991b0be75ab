//! Exports run by the server as jobs (`POST /jobs/export`): the request checked before the
//! job is accepted, and the export of a job the worker took ([`crate::ops::worker`]), under a
//! lease it renews while it reports progress, stopped when the job is cancelled, recording
//! what failed and what left.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::dest::Destination;
use super::select::{self, Selection};
use super::stow;
use super::{copy, Exported};
use crate::audit::{Action, Agent, AuditLog, AuditRecord, EventType, Outcome};
use crate::index::{Index, InstanceRow};
use crate::jobs::{Job, JobError, JobProgress, JobState};
use crate::ops::import::stow::StowClient;
use crate::ops::progress::Progress;
use crate::ops::worker::lease::{counts, Ended, Runner};
use crate::ops::OpsError;
use crate::storage::BlobStore;

/// Instances read at once by a job.
const JOB_READS: usize = 4;

/// What `POST /jobs/export` takes: the same selection as `tessera export`, and a destination
/// a server can write for any node: an object-store prefix or a STOW-RS service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    #[serde(default)]
    pub studies: Vec<String>,
    #[serde(default)]
    pub series: Vec<String>,
    #[serde(default)]
    pub query: Option<String>,
    pub to: String,
}

impl ExportRequest {
    fn selection(&self) -> Selection {
        Selection {
            studies: self.studies.clone(),
            series: self.series.clone(),
            query: self.query.clone(),
        }
    }

    fn is_stow(&self) -> bool {
        self.to.starts_with("http://") || self.to.starts_with("https://")
    }
}

/// Check a request as far as can be done before accepting it: something is selected, every
/// UID names something stored, and the destination is one a job can write. Returns how many
/// instances it selects.
pub async fn check_request(index: &dyn Index, request: &ExportRequest) -> Result<u64, OpsError> {
    if request.studies.is_empty() && request.series.is_empty() && request.query.is_none() {
        return Err(OpsError::Invalid(
            "say what to export: \"studies\", \"series\" or \"query\"".into(),
        ));
    }
    check_job_destination(&request.to)?;
    let rows = select::instances(index, &request.selection()).await?;
    if rows.is_empty() {
        return Err(OpsError::Invalid(
            "the query matches no stored study".into(),
        ));
    }
    Ok(rows.len() as u64)
}

/// Whether a job can write to `to` from any node: an object-store prefix (credentials from the
/// server's environment) or a STOW-RS service that needs no token (a token would have to be
/// kept in the index to survive a restart). A folder or a zip on one node's disk is refused.
pub(in crate::ops) fn check_job_destination(to: &str) -> Result<(), OpsError> {
    match to.split_once("://").map(|(s, _)| s) {
        Some("s3" | "az" | "gs" | "file") => {
            BlobStore::from_url(to, true)?;
        }
        Some("http" | "https") => {
            StowClient::new(to, None)?;
        }
        _ => {
            return Err(OpsError::Invalid(format!(
                "\"to\": {:?} is not a destination a job can write: an object-store prefix \
                 (s3://, az://, gs://, file://) or an http(s):// DICOMweb service",
                to.split('?').next().unwrap_or_default()
            )))
        }
    }
    Ok(())
}

/// Run one export job the worker took.
pub async fn run(runner: &Runner, job: Job) {
    let selected = match serde_json::from_str::<ExportRequest>(&job.request) {
        Ok(request) => select::instances(runner.index.as_ref(), &request.selection())
            .await
            .map(|rows| (request, rows))
            .map_err(|err| err.to_string()),
        Err(err) => Err(format!("the stored request cannot be read: {err}")),
    };
    let (request, rows) = match selected {
        Ok(selected) => selected,
        Err(message) => {
            let failed = JobState::Failed;
            runner
                .finish(&job, failed, JobProgress::default(), &message)
                .await;
            return;
        }
    };
    let total = rows.len() as u64;
    let progress = Arc::new(Progress::quiet("export job", total));
    let work = export(&runner.store, &request, &rows, &progress);
    let outcome = match runner.supervise(&job, &progress, total, work).await {
        Ended::Lost => return,
        Ended::Done(outcome) => outcome,
    };
    let counts = counts(&progress, total);
    let (state, message) = match &outcome {
        Err(OpsError::Cancelled) => (JobState::Cancelled, "cancelled".to_string()),
        Err(err) => (JobState::Failed, err.to_string()),
        Ok(results) => {
            let errors = errors_of(&rows, results);
            runner.record_errors(&job, &errors).await;
            if errors.is_empty() {
                (
                    JobState::Completed,
                    format!("{} instances exported", counts.done),
                )
            } else {
                (
                    JobState::Failed,
                    format!(
                        "{} instances not exported: see the job's errors",
                        errors.len()
                    ),
                )
            }
        }
    };
    if let Ok(results) = &outcome {
        record_export(&runner.audit, &job, &request, &rows, results).await;
    }
    runner.finish(&job, state, counts, &message).await;
}

async fn export(
    store: &BlobStore,
    request: &ExportRequest,
    rows: &[InstanceRow],
    progress: &Progress,
) -> Result<Vec<Exported>, OpsError> {
    if request.is_stow() {
        let client = StowClient::new(&request.to, None)?;
        stow::send(store, rows, &client, JOB_READS, progress).await
    } else {
        let mut destination = Destination::open(&request.to)?;
        copy(store, rows, &mut destination, JOB_READS, progress).await
    }
}

fn errors_of(rows: &[InstanceRow], results: &[Exported]) -> Vec<JobError> {
    rows.iter()
        .zip(results)
        .filter_map(|(row, result)| match result {
            Exported::Failed(message) => Some(JobError {
                study_uid: row.study_uid.clone(),
                series_uid: row.series_uid.clone(),
                sop_uid: row.sop_uid.clone(),
                message: message.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// What left, in the audit trail: an Export by whoever created the job.
async fn record_export(
    audit: &Arc<dyn AuditLog>,
    job: &Job,
    request: &ExportRequest,
    rows: &[InstanceRow],
    results: &[Exported],
) {
    let written = results.iter().filter(|r| **r == Exported::Written).count();
    let mut studies: Vec<&str> = rows.iter().map(|r| r.study_uid.as_str()).collect();
    studies.dedup();
    let failed = results
        .iter()
        .filter(|r| matches!(r, Exported::Failed(_)))
        .count();
    let mut record = AuditRecord::of_command(
        EventType::Export,
        Action::Read,
        if failed == 0 {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        },
        "export job",
        request.to.split('?').next().unwrap_or_default(),
        format!(
            "job {}: {written} instances written, {failed} failed; studies {}",
            job.id,
            studies.join(", ")
        ),
    );
    record.agent = Agent {
        subject: job.created_by.clone(),
        ..Agent::default()
    };
    if studies.len() == 1 {
        record.study_uid = Some(studies[0].to_string());
    }
    if let Err(err) = audit.append_audit(&[record]).await {
        tracing::warn!(job = %job.id, %err, "could not record the export in the audit trail");
    }
}
