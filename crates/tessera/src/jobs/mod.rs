//! Long work run by the archive itself for callers without shell access (`POST /jobs/export`,
//! `POST /jobs/deidentify`): what a job is, its states, and the store that holds jobs in the
//! index, so that any node reports them and another node resumes one whose node stopped (a
//! lease, as the FHIR push). [`mapping`] holds what de-identification runs replaced.

pub mod mapping;

use async_trait::async_trait;

pub use mapping::{DeidRun, MappingKind, MappingRow, MappingStore};

/// How far a job has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Completed,
    /// Ended with instances that could not be exported or de-identified (the error log says
    /// which), or the destination failed.
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Completed,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(name: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether nothing will change it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Counts of a job's instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub total: u64,
    /// Written, or already at the destination.
    pub done: u64,
    pub failed: u64,
    /// Instances a de-identification refused (burned-in text, unreadable).
    pub refused: u64,
    pub bytes: u64,
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// `export` or `deidentify`.
    pub kind: String,
    pub state: JobState,
    /// The request as JSON ([`crate::ops::export::job::ExportRequest`],
    /// [`crate::ops::deidentify::job::DeidentifyRequest`]).
    pub request: String,
    /// Who asked (the token's subject or `api-key:NAME`).
    pub created_by: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
    pub progress: JobProgress,
    pub cancel_requested: bool,
    /// Why it failed, or how it ended.
    pub message: Option<String>,
}

/// One instance a job could not handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pub message: String,
}

/// What a running job's node learns when it reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobControl {
    Continue,
    /// Someone asked to cancel it.
    Cancel,
    /// Another node holds it now (this node's lease ran out): stop without finishing it.
    Lost,
}

/// A job store failed.
#[derive(Debug, thiserror::Error)]
#[error("job store: {0}")]
pub struct JobStoreError(pub String);

/// Where jobs are kept: the index, shared by every node.
#[async_trait]
pub trait JobStore: MappingStore + Send + Sync {
    async fn create_job(&self, job: &Job) -> Result<(), JobStoreError>;
    async fn job(&self, id: &str) -> Result<Option<Job>, JobStoreError>;
    /// Take the oldest job that is queued, or running under a lease that ran out (its node
    /// stopped): it runs (again) under `holder`'s lease until `lease_until`.
    async fn claim_job(
        &self,
        holder: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Job>, JobStoreError>;
    /// Record progress and renew the lease, if `holder` still has the job.
    async fn report_job(
        &self,
        id: &str,
        holder: &str,
        progress: JobProgress,
        now: i64,
        lease_until: i64,
    ) -> Result<JobControl, JobStoreError>;
    /// End a job `holder` has; false when it does not have it any more.
    async fn finish_job(
        &self,
        id: &str,
        holder: &str,
        state: JobState,
        progress: JobProgress,
        message: Option<&str>,
        now: i64,
    ) -> Result<bool, JobStoreError>;
    /// Cancel a job: at once when queued, at its next report when running; the job after.
    async fn cancel_job(&self, id: &str, now: i64) -> Result<Option<Job>, JobStoreError>;
    /// Replace the error log of a job's run.
    async fn set_job_errors(&self, id: &str, errors: &[JobError]) -> Result<(), JobStoreError>;
    async fn job_errors(
        &self,
        id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<JobError>, JobStoreError>;
}

/// A new job id: 128 random bits, hex.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
