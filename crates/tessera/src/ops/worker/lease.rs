//! One job run under the lease of the node that took it: progress reported every second
//! (which renews the lease and brings news of a cancel), the work stopped at once on a cancel
//! or when another node has taken the job, and the job's end recorded.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditLog;
use crate::index::Index;
use crate::jobs::{Job, JobControl, JobError, JobProgress, JobState, JobStore};
use crate::ops::progress::Progress;
use crate::ops::OpsError;
use crate::storage::BlobStore;
use crate::time::now_micros;

/// How long a node holds a job without reporting before another node may take it.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a running job reports its progress (and learns of a cancel).
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// What a node's worker runs jobs with.
pub struct Runner {
    pub store: BlobStore,
    pub index: Arc<dyn Index>,
    pub jobs: Arc<dyn JobStore>,
    pub audit: Arc<dyn AuditLog>,
    /// This node's name as a job's holder.
    pub holder: String,
}

/// How a job's work ended.
pub enum Ended<T> {
    /// It finished, failed, or was cancelled (`Err(OpsError::Cancelled)`).
    Done(Result<T, OpsError>),
    /// Another node holds the job now: it is not this node's to finish.
    Lost,
}

impl Runner {
    /// Run `work` while reporting `progress` every second; a cancel or a lost lease stops it
    /// at once, even in the middle of a request (what it had written is whole: files are
    /// renamed into place, objects appear whole).
    pub async fn supervise<T>(
        &self,
        job: &Job,
        progress: &Arc<Progress>,
        total: u64,
        work: impl Future<Output = Result<T, OpsError>>,
    ) -> Ended<T> {
        let stop = Arc::new(tokio::sync::Notify::new());
        let reporter = tokio::spawn(report_until_done(
            Arc::clone(&self.jobs),
            job.id.clone(),
            self.holder.clone(),
            Arc::clone(progress),
            total,
            Arc::clone(&stop),
        ));
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = stop.notified() => Err(OpsError::Cancelled),
        };
        reporter.abort();
        if matches!(outcome, Err(OpsError::Cancelled)) && self.lost(&job.id).await {
            tracing::info!(job = %job.id, "job taken over by another node");
            return Ended::Lost;
        }
        Ended::Done(outcome)
    }

    /// Whether another node holds the job now.
    async fn lost(&self, id: &str) -> bool {
        let now = now_micros();
        matches!(
            self.jobs
                .report_job(id, &self.holder, JobProgress::default(), now, now)
                .await,
            Ok(JobControl::Lost)
        ) && !matches!(self.jobs.job(id).await, Ok(Some(job)) if job.cancel_requested)
    }

    /// Replace the error log of the job's run.
    pub async fn record_errors(&self, job: &Job, errors: &[JobError]) {
        if let Err(err) = self.jobs.set_job_errors(&job.id, errors).await {
            tracing::warn!(job = %job.id, %err, "could not record the job's errors");
        }
    }

    /// End the job, if this node still holds it.
    pub async fn finish(&self, job: &Job, state: JobState, progress: JobProgress, message: &str) {
        match self
            .jobs
            .finish_job(
                &job.id,
                &self.holder,
                state,
                progress,
                Some(message),
                now_micros(),
            )
            .await
        {
            Ok(true) => {
                tracing::info!(job = %job.id, kind = %job.kind, state = state.name(), message, "job ended")
            }
            Ok(false) => tracing::info!(job = %job.id, "job no longer held by this node"),
            Err(err) => tracing::warn!(job = %job.id, %err, "could not record the end of the job"),
        }
    }
}

/// The job's counts from its progress: done is what neither failed nor was refused.
pub fn counts(progress: &Progress, total: u64) -> JobProgress {
    let (files, bytes, _) = progress.done();
    let failed = progress.failed();
    let refused = progress.refused();
    JobProgress {
        total,
        done: files.saturating_sub(failed + refused),
        failed,
        refused,
        bytes,
    }
}

/// Report every [`REPORT_EVERY`] until aborted; a cancel or a lost lease stops the work.
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
