//! Group commit for SQLite, which has one writer: STOW requests that arrive while a commit is
//! under way are written together in the next transaction, each inside its own savepoint
//! (so one request's failure does not touch the others), and share one WAL fsync.

use sqlx::{Any, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::delete;
use super::dialect::Dialect;
use super::model::{DeleteTarget, Deleted, NewInstance, StoreOutcome};
use super::write::BatchWriter;
use crate::index::DuplicatePolicy;
use crate::index::IndexError;
use crate::query::extra::ExtraAttribute;
use std::sync::Arc;

/// Requests taken into one transaction at most, and instances at most.
const MAX_REQUESTS: usize = 64;
const MAX_INSTANCES: usize = 2000;

/// What one request asks the writer to do.
enum Work {
    Store {
        batch: Vec<NewInstance>,
        policy: DuplicatePolicy,
    },
    Delete(DeleteTarget),
}

/// What the writer did.
enum Done {
    Stored(Vec<StoreOutcome>),
    Deleted(Option<Deleted>),
}

type Reply = oneshot::Sender<Result<Done, IndexError>>;

struct Job {
    work: Work,
    reply: Reply,
}

impl Job {
    fn size(&self) -> usize {
        match &self.work {
            Work::Store { batch, .. } => batch.len(),
            Work::Delete(_) => 1,
        }
    }
}

/// Handle to the writer task.
pub struct GroupWriter {
    jobs: mpsc::Sender<Job>,
}

impl GroupWriter {
    pub fn start(pool: AnyPool, extras: Arc<Vec<ExtraAttribute>>) -> Self {
        let (jobs, receiver) = mpsc::channel(1024);
        tokio::spawn(run(pool, extras, receiver));
        GroupWriter { jobs }
    }

    pub async fn store(
        &self,
        batch: Vec<NewInstance>,
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError> {
        match self.submit(Work::Store { batch, policy }).await? {
            Done::Stored(outcomes) => Ok(outcomes),
            Done::Deleted(_) => Err(IndexError::Corrupt(
                "writer answered a store with a delete".into(),
            )),
        }
    }

    pub async fn delete(&self, target: DeleteTarget) -> Result<Option<Deleted>, IndexError> {
        match self.submit(Work::Delete(target)).await? {
            Done::Deleted(deleted) => Ok(deleted),
            Done::Stored(_) => Err(IndexError::Corrupt(
                "writer answered a delete with a store".into(),
            )),
        }
    }

    async fn submit(&self, work: Work) -> Result<Done, IndexError> {
        let (reply, answer) = oneshot::channel();
        let gone = || IndexError::Unavailable("the index writer stopped".into());
        self.jobs
            .send(Job { work, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(pool: AnyPool, extras: Arc<Vec<ExtraAttribute>>, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut jobs = vec![first];
        let mut instances = jobs[0].size();
        while jobs.len() < MAX_REQUESTS && instances < MAX_INSTANCES {
            match receiver.try_recv() {
                Ok(job) => {
                    instances += job.size();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let results = write_group(&pool, &extras, &jobs).await;
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Opens the transaction (taking the write lock at once: see `Dialect::begin_write`) and the
/// first job's savepoint in one statement.
const BEGIN: &str = "BEGIN IMMEDIATE; SAVEPOINT stow";
/// Ends a job's savepoint, keeping or discarding what the job wrote.
const RELEASE: &str = "RELEASE SAVEPOINT stow";
const ROLLBACK: &str = "ROLLBACK TO SAVEPOINT stow; RELEASE SAVEPOINT stow";

/// One transaction for all jobs; each job in a savepoint. If the commit itself fails, every
/// job gets the error (none of them was stored).
async fn write_group(
    pool: &AnyPool,
    extras: &[ExtraAttribute],
    jobs: &[Job],
) -> Vec<Result<Done, IndexError>> {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(source) => return failed_all(jobs, &IndexError::db("begin")(source)),
    };
    let failure = match conn.begin_with(BEGIN).await {
        Ok(tx) => return write_jobs(tx, extras, jobs).await,
        Err(source) => failed_all(jobs, &IndexError::db("begin")(source)),
    };
    // BEGIN may have succeeded where the savepoint failed: leave no transaction open on a
    // connection that goes back to the pool.
    let _ = conn.execute("ROLLBACK").await;
    failure
}

/// Every job gets this error.
fn failed_all(jobs: &[Job], err: &IndexError) -> Vec<Result<Done, IndexError>> {
    jobs.iter()
        .map(|_| Err(IndexError::Unavailable(err.to_string())))
        .collect()
}

/// The jobs in the transaction `tx` (whose first savepoint is open), then the commit.
///
/// Statements are joined where nothing happens between them: the transaction opens with the
/// first savepoint, a job's savepoint ends with the next one's start, and the last job's
/// savepoint, when kept, ends with the commit (which keeps every savepoint still open).
async fn write_jobs(
    mut tx: Transaction<'_, Any>,
    extras: &[ExtraAttribute],
    jobs: &[Job],
) -> Vec<Result<Done, IndexError>> {
    let mut results: Vec<Result<Done, IndexError>> = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Some(previous) = results.last() {
            let next = format!("{}; SAVEPOINT stow", end_of(previous));
            if let Err(source) = tx.execute(next.as_str()).await {
                return failed_all(jobs, &IndexError::db("savepoint")(source));
            }
        }
        let result = match &job.work {
            Work::Store { batch, policy } => BatchWriter::new(&mut tx, Dialect::Sqlite, extras)
                .write(batch, *policy)
                .await
                .map(Done::Stored),
            Work::Delete(target) => delete::delete(&mut tx, Dialect::Sqlite, target)
                .await
                .map(Done::Deleted),
        };
        results.push(result);
    }
    if let Some(Err(_)) = results.last() {
        if let Err(source) = tx.execute(ROLLBACK).await {
            return failed_all(jobs, &IndexError::db("savepoint")(source));
        }
    }
    match tx.commit().await {
        Ok(()) => results,
        Err(source) => failed_all(jobs, &IndexError::db("commit")(source)),
    }
}

/// The statement that ends the savepoint of a job with this result.
fn end_of(result: &Result<Done, IndexError>) -> &'static str {
    if result.is_ok() {
        RELEASE
    } else {
        ROLLBACK
    }
}
