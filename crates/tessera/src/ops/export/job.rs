//! Exports run by the server as jobs (`POST /jobs/export`): the request checked before the
//! job is accepted, and the worker every node runs, which takes a queued job (or one whose
//! node stopped), exports under a lease it renews while it reports progress, stops when the
//! job is cancelled, and records what failed and what left.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::dest::Destination;
use super::select::{self, Selection};
use super::stow;
use super::{copy, Exported};
use crate::audit::{Action, Agent, AuditLog, AuditRecord, EventType, Outcome};
use crate::index::{Index, InstanceRow};
use crate::jobs::{Job, JobControl, JobError, JobProgress, JobState, JobStore};
use crate::ops::import::stow::StowClient;
use crate::ops::progress::Progress;
use crate::ops::OpsError;
use crate::storage::BlobStore;
use crate::time::now_micros;

/// How long a node holds a job without reporting before another node may take it.
const LEASE: Duration = Duration::from_secs(30);
/// How often a running job reports its progress (and learns of a cancel).
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How often an idle node looks for a job.
const POLL_EVERY: Duration = Duration::from_secs(2);
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
    let scheme = request.to.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("s3" | "az" | "gs" | "file") => {
            BlobStore::from_url(&request.to, true)?;
        }
        Some("http" | "https") => {
            StowClient::new(&request.to, None)?;
        }
        _ => {
            return Err(OpsError::Invalid(format!(
                "\"to\": {:?} is not a destination a job can write: an object-store prefix \
                 (s3://, az://, gs://, file://) or an http(s):// DICOMweb service",
                request.to.split('?').next().unwrap_or_default()
            )))
        }
    }
    let rows = select::instances(index, &request.selection()).await?;
    if rows.is_empty() {
        return Err(OpsError::Invalid(
            "the query matches no stored study".into(),
        ));
    }
    Ok(rows.len() as u64)
}

/// Take and run export jobs until the task is dropped.
pub async fn run_worker(store: BlobStore, index: Arc<dyn Index>) {
    let jobs = Arc::clone(&index).job_store();
    let audit = Arc::clone(&index).audit_log();
    let holder = format!("node-{}", crate::jobs::new_id());
    loop {
        let now = now_micros();
        match jobs
            .claim_job(&holder, now, now + LEASE.as_micros() as i64)
            .await
        {
            Ok(Some(job)) => {
                tracing::info!(job = %job.id, "export job started");
                run_one(&store, index.as_ref(), &jobs, &audit, &holder, job).await;
            }
            Ok(None) => tokio::time::sleep(POLL_EVERY).await,
            Err(err) => {
                tracing::warn!(%err, "could not look for export jobs");
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}

async fn run_one(
    store: &BlobStore,
    index: &dyn Index,
    jobs: &Arc<dyn JobStore>,
    audit: &Arc<dyn AuditLog>,
    holder: &str,
    job: Job,
) {
    let selected = match serde_json::from_str::<ExportRequest>(&job.request) {
        Ok(request) => select::instances(index, &request.selection())
            .await
            .map(|rows| (request, rows))
            .map_err(|err| err.to_string()),
        Err(err) => Err(format!("the stored request cannot be read: {err}")),
    };
    let (request, rows) = match selected {
        Ok(selected) => selected,
        Err(message) => {
            let failed = JobState::Failed;
            finish(jobs, &job, holder, failed, JobProgress::default(), &message).await;
            return;
        }
    };
    let progress = Arc::new(Progress::quiet("export job", rows.len() as u64));
    let stop = Arc::new(tokio::sync::Notify::new());
    let reporter = tokio::spawn(report_until_done(
        Arc::clone(jobs),
        job.id.clone(),
        holder.to_string(),
        Arc::clone(&progress),
        rows.len() as u64,
        Arc::clone(&stop),
    ));
    // A cancel stops the export at once, even in the middle of a request: what it had
    // written is whole (files are renamed into place, objects appear whole).
    let outcome = tokio::select! {
        outcome = export(store, &request, &rows, &progress) => outcome,
        () = stop.notified() => Err(OpsError::Cancelled),
    };
    reporter.abort();
    let counts = counts(&progress, rows.len() as u64);
    let (state, message) = match &outcome {
        Err(OpsError::Cancelled) if lost(jobs, &job.id, holder).await => {
            tracing::info!(job = %job.id, "export job taken over by another node");
            return;
        }
        Err(OpsError::Cancelled) => (JobState::Cancelled, "cancelled".to_string()),
        Err(err) => (JobState::Failed, err.to_string()),
        Ok(results) => {
            let errors = errors_of(&rows, results);
            if let Err(err) = jobs.set_job_errors(&job.id, &errors).await {
                tracing::warn!(job = %job.id, %err, "could not record the job's errors");
            }
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
        record_export(audit, &job, &request, &rows, results).await;
    }
    finish(jobs, &job, holder, state, counts, &message).await;
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

fn counts(progress: &Progress, total: u64) -> JobProgress {
    let (files, bytes, _) = progress.done();
    let failed = progress.failed();
    JobProgress {
        total,
        done: files.saturating_sub(failed),
        failed,
        bytes,
    }
}

/// Report every [`REPORT_EVERY`] until aborted; a cancel or a lost lease stops the export.
async fn report_until_done(
    jobs: Arc<dyn JobStore>,
    id: String,
    holder: String,
    progress: Arc<Progress>,
    total: u64,
    stop: Arc<tokio::sync::Notify>,
) {
    loop {
        tokio::time::sleep(REPORT_EVERY).await;
        let now = now_micros();
        let lease = now + LEASE.as_micros() as i64;
        match jobs
            .report_job(&id, &holder, counts(&progress, total), now, lease)
            .await
        {
            Ok(JobControl::Continue) => {}
            Ok(JobControl::Cancel | JobControl::Lost) => {
                progress.cancel();
                stop.notify_one();
                return;
            }
            Err(err) => tracing::warn!(job = %id, %err, "could not report the job's progress"),
        }
    }
}

/// Whether another node holds the job now.
async fn lost(jobs: &Arc<dyn JobStore>, id: &str, holder: &str) -> bool {
    let now = now_micros();
    matches!(
        jobs.report_job(id, holder, JobProgress::default(), now, now)
            .await,
        Ok(JobControl::Lost)
    ) && !matches!(jobs.job(id).await, Ok(Some(job)) if job.cancel_requested)
}

async fn finish(
    jobs: &Arc<dyn JobStore>,
    job: &Job,
    holder: &str,
    state: JobState,
    progress: JobProgress,
    message: &str,
) {
    match jobs
        .finish_job(
            &job.id,
            holder,
            state,
            progress,
            Some(message),
            now_micros(),
        )
        .await
    {
        Ok(true) => {
            tracing::info!(job = %job.id, state = state.name(), message, "export job ended")
        }
        Ok(false) => tracing::info!(job = %job.id, "export job no longer held by this node"),
        Err(err) => tracing::warn!(job = %job.id, %err, "could not record the end of the job"),
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
