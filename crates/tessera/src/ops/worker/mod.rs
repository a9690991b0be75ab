//! The job worker every node runs: it takes the oldest queued job (or one whose node
//! stopped: its lease ran out) and runs it by its kind, an export ([`crate::ops::export::job`])
//! or a de-identification ([`crate::ops::deidentify::job`]), under a lease ([`lease`]).

pub mod lease;

use std::sync::Arc;
use std::time::Duration;

use crate::index::Index;
use crate::jobs::{JobProgress, JobState};
use crate::ops::deidentify::DeidentifyContext;
use crate::storage::BlobStore;
use crate::time::now_micros;
use lease::{Runner, LEASE};

/// How often an idle node looks for a job.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// Take and run jobs until the task is dropped.
pub async fn run_worker(store: BlobStore, index: Arc<dyn Index>, deidentify: DeidentifyContext) {
    let runner = Runner {
        store,
        jobs: Arc::clone(&index).job_store(),
        audit: Arc::clone(&index).audit_log(),
        index,
        holder: format!("node-{}", crate::jobs::new_id()),
    };
    loop {
        let now = now_micros();
        match runner
            .jobs
            .claim_job(&runner.holder, now, now + LEASE.as_micros() as i64)
            .await
        {
            Ok(Some(job)) => {
                tracing::info!(job = %job.id, kind = %job.kind, "job started");
                match job.kind.as_str() {
                    "export" => crate::ops::export::job::run(&runner, job).await,
                    "deidentify" => {
                        crate::ops::deidentify::job::run(&runner, &deidentify, job).await
                    }
                    other => {
                        let message = format!("unknown job kind {other:?}");
                        runner
                            .finish(&job, JobState::Failed, JobProgress::default(), &message)
                            .await
                    }
                }
            }
            Ok(None) => tokio::time::sleep(POLL_EVERY).await,
            Err(err) => {
                tracing::warn!(%err, "could not look for jobs");
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    }
}
