//! Jobs in the index ([`crate::jobs::JobStore`]): one table of jobs with their progress and
//! lease, one of the instances a job's latest run could not handle.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::SqlIndex;
use crate::jobs::{Job, JobControl, JobError, JobProgress, JobState, JobStore, JobStoreError};

const COLUMNS: &str = "id, kind, state, request, created_by, created_at, updated_at, total, \
     done, failed, refused, bytes, cancel_requested, holder, lease_until, message";

fn failed(operation: &str) -> impl FnOnce(sqlx::Error) -> JobStoreError + '_ {
    move |err| JobStoreError(format!("{operation}: {err}"))
}

fn job(row: &AnyRow) -> Result<Job, JobStoreError> {
    let read = |err: sqlx::Error| JobStoreError(format!("reading a job row: {err}"));
    let state: String = row.try_get("state").map_err(read)?;
    let count = |name: &str| -> Result<u64, JobStoreError> {
        Ok(row.try_get::<i64, _>(name).map_err(read)?.max(0) as u64)
    };
    Ok(Job {
        id: row.try_get("id").map_err(read)?,
        kind: row.try_get("kind").map_err(read)?,
        state: JobState::parse(&state)
            .ok_or_else(|| JobStoreError(format!("unknown job state {state:?}")))?,
        request: row.try_get("request").map_err(read)?,
        created_by: row.try_get("created_by").map_err(read)?,
        created_at: row.try_get("created_at").map_err(read)?,
        updated_at: row.try_get("updated_at").map_err(read)?,
        progress: JobProgress {
            total: count("total")?,
            done: count("done")?,
            failed: count("failed")?,
            refused: count("refused")?,
            bytes: count("bytes")?,
        },
        cancel_requested: row.try_get::<i64, _>("cancel_requested").map_err(read)? != 0,
        message: row.try_get("message").map_err(read)?,
    })
}

/// The jobs a node may take: queued, or running under a lease that ran out.
const CLAIMABLE: &str = "(state = 'queued' OR (state = 'running' AND lease_until < $3)) \
     AND cancel_requested = 0";

#[async_trait]
impl JobStore for SqlIndex {
    async fn create_job(&self, job: &Job) -> Result<(), JobStoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, kind, state, request, created_by, created_at, updated_at, total) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&job.id)
        .bind(&job.kind)
        .bind(job.state.name())
        .bind(&job.request)
        .bind(job.created_by.as_deref())
        .bind(job.created_at)
        .bind(job.updated_at)
        .bind(job.progress.total as i64)
        .execute(self.pool())
        .await
        .map_err(failed("create job"))?;
        Ok(())
    }

    async fn job(&self, id: &str) -> Result<Option<Job>, JobStoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failed("read job"))?;
        row.as_ref().map(job).transpose()
    }

    async fn claim_job(
        &self,
        holder: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Job>, JobStoreError> {
        // A read first: every node polls, and on SQLite an UPDATE takes the write lock even
        // when it changes nothing, which would make STOW's commits wait for idle polls.
        let waiting: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE {} LIMIT 1",
            CLAIMABLE.replace("$3", "$1")
        ))
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(failed("look for jobs"))?;
        if waiting.is_none() {
            return Ok(None);
        }
        // The condition twice: in the choice, and again on the row once it is locked, so two
        // nodes that chose the same job cannot both take it.
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', holder = $1, lease_until = $2, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE {CLAIMABLE} ORDER BY created_at LIMIT 1) \
             AND {CLAIMABLE} RETURNING {COLUMNS}"
        ))
        .bind(holder)
        .bind(lease_until)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(failed("claim job"))?;
        row.as_ref().map(job).transpose()
    }

    async fn report_job(
        &self,
        id: &str,
        holder: &str,
        progress: JobProgress,
        now: i64,
        lease_until: i64,
    ) -> Result<JobControl, JobStoreError> {
        let row = sqlx::query(
            "UPDATE jobs SET total = $3, done = $4, failed = $5, bytes = $6, updated_at = $7, \
             lease_until = $8, refused = $9 WHERE id = $1 AND holder = $2 AND state = 'running' \
             RETURNING cancel_requested",
        )
        .bind(id)
        .bind(holder)
        .bind(progress.total as i64)
        .bind(progress.done as i64)
        .bind(progress.failed as i64)
        .bind(progress.bytes as i64)
        .bind(now)
        .bind(lease_until)
        .bind(progress.refused as i64)
        .fetch_optional(self.pool())
        .await
        .map_err(failed("report job"))?;
        Ok(match row {
            None => JobControl::Lost,
            Some(row) => {
                let cancel: i64 = row
                    .try_get("cancel_requested")
                    .map_err(failed("report job"))?;
                if cancel != 0 {
                    JobControl::Cancel
                } else {
                    JobControl::Continue
                }
            }
        })
    }

    async fn finish_job(
        &self,
        id: &str,
        holder: &str,
        state: JobState,
        progress: JobProgress,
        message: Option<&str>,
        now: i64,
    ) -> Result<bool, JobStoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = $3, total = $4, done = $5, failed = $6, bytes = $7, \
             message = $8, updated_at = $9, refused = $10, holder = NULL, lease_until = NULL \
             WHERE id = $1 AND holder = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(holder)
        .bind(state.name())
        .bind(progress.total as i64)
        .bind(progress.done as i64)
        .bind(progress.failed as i64)
        .bind(progress.bytes as i64)
        .bind(message)
        .bind(now)
        .bind(progress.refused as i64)
        .execute(self.pool())
        .await
        .map_err(failed("finish job"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn cancel_job(&self, id: &str, now: i64) -> Result<Option<Job>, JobStoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', updated_at = $2, message = 'cancelled before it started' \
             WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(failed("cancel job"))?;
        sqlx::query(
            "UPDATE jobs SET cancel_requested = 1, updated_at = $2 WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(failed("cancel job"))?;
        self.job(id).await
    }

    async fn set_job_errors(&self, id: &str, errors: &[JobError]) -> Result<(), JobStoreError> {
        let mut tx = self.begin_write().await.map_err(failed("begin"))?;
        sqlx::query("DELETE FROM job_errors WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(failed("clear job errors"))?;
        for (position, error) in errors.iter().enumerate() {
            sqlx::query(
                "INSERT INTO job_errors (job_id, position, study_uid, series_uid, sop_uid, message) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(position as i64)
            .bind(&error.study_uid)
            .bind(&error.series_uid)
            .bind(&error.sop_uid)
            .bind(&error.message)
            .execute(&mut *tx)
            .await
            .map_err(failed("record job errors"))?;
        }
        tx.commit().await.map_err(failed("commit"))?;
        Ok(())
    }

    async fn job_errors(
        &self,
        id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<JobError>, JobStoreError> {
        let rows = sqlx::query(
            "SELECT study_uid, series_uid, sop_uid, message FROM job_errors WHERE job_id = $1 \
             ORDER BY position LIMIT $2 OFFSET $3",
        )
        .bind(id)
        .bind(i64::from(limit))
        .bind(offset as i64)
        .fetch_all(self.pool())
        .await
        .map_err(failed("read job errors"))?;
        rows.iter()
            .map(|row| {
                let read = |err: sqlx::Error| JobStoreError(format!("reading a job error: {err}"));
                Ok(JobError {
                    study_uid: row.try_get("study_uid").map_err(read)?,
                    series_uid: row.try_get("series_uid").map_err(read)?,
                    sop_uid: row.try_get("sop_uid").map_err(read)?,
                    message: row.try_get("message").map_err(read)?,
                })
            })
            .collect()
    }
}
