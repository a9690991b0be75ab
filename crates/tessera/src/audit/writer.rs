//! Writing the trail: records of writes (STOW, delete, API-key changes) are appended before
//! the answer goes out ([`AuditTrail::record_now`]); records of reads and refusals are queued
//! and appended in batches ([`AuditTrail::record_later`]), and the queue is emptied into the
//! trail before a graceful shutdown ends ([`AuditTrail::close`]). A batch that cannot be
//! written is kept and tried again; nothing queued is dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{AuditLog, AuditLogError, AuditRecord};

/// Records queued at most before `record_later` waits for the writer (back-pressure rather
/// than loss).
const QUEUE: usize = 65_536;
/// Records appended in one transaction at most.
const BATCH: usize = 1024;
/// Longest wait between a queued record and its batch being written.
const LINGER: Duration = Duration::from_millis(200);

/// Where records go after the trail: the syslog forwarder, when one is configured.
pub type Forward = mpsc::UnboundedSender<AuditRecord>;

/// What the batch writer is sent.
enum Item {
    Record(Box<AuditRecord>),
    /// Write what came before, then answer.
    Flush(oneshot::Sender<()>),
}

pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    queue: mpsc::Sender<Item>,
    forward: Option<Forward>,
    worker: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl AuditTrail {
    /// The trail over `log`, with its batch writer running.
    pub fn start(log: Arc<dyn AuditLog>, forward: Option<Forward>) -> Arc<AuditTrail> {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(write_batches(
            Arc::clone(&log),
            receiver,
            stopped,
            forward.clone(),
        ));
        Arc::new(AuditTrail {
            log,
            queue,
            forward,
            worker: Mutex::new(Some((stop, task))),
        })
    }

    /// Append now; the caller answers only once this returned `Ok`.
    pub async fn record_now(&self, records: &[AuditRecord]) -> Result<(), AuditLogError> {
        self.log.append_audit(records).await?;
        self.forward(records);
        Ok(())
    }

    /// Append now, or, when the trail cannot be written at this moment, queue the records for
    /// the batch writer, which keeps them and tries again. For a change that has already
    /// happened (instances committed, a study deleted): refusing its answer would not undo
    /// it, and would send the client to retry a stored instance into a duplicate.
    pub async fn record_now_or_queue(&self, records: Vec<AuditRecord>) {
        match self.record_now(&records).await {
            Ok(()) => {}
            Err(err) => {
                tracing::error!(
                    error = %err,
                    records = records.len(),
                    "the audit trail cannot be written now; records of a completed change queued"
                );
                for record in records {
                    self.record_later(record).await;
                }
            }
        }
    }

    /// Queue for the batch writer.
    pub async fn record_later(&self, record: AuditRecord) {
        if let Err(err) = self.queue.send(Item::Record(Box::new(record))).await {
            // Only after close(): write it directly rather than lose it.
            if let Item::Record(record) = err.0 {
                if let Err(err) = self.record_now(std::slice::from_ref(&*record)).await {
                    tracing::error!(error = %err, "audit record lost after shutdown");
                }
            }
        }
    }

    /// Wait until everything queued so far is in the trail. Before a delete: a queued read
    /// of a study is stored with the study's patient, which must still be there to be found.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Item::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Write everything queued, then stop the batch writer.
    pub async fn close(&self) {
        let worker = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stop, task)) = worker {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    fn forward(&self, records: &[AuditRecord]) {
        if let Some(forward) = &self.forward {
            for record in records {
                let _ = forward.send(record.clone());
            }
        }
    }
}

async fn write_batches(
    log: Arc<dyn AuditLog>,
    mut receiver: mpsc::Receiver<Item>,
    mut stopped: oneshot::Receiver<()>,
    forward: Option<Forward>,
) {
    let mut batch: Vec<AuditRecord> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut stopping = false;
    loop {
        if batch.is_empty() && waiting.is_empty() && !stopping {
            tokio::select! {
                got = receiver.recv() => match got {
                    Some(item) => take(item, &mut batch, &mut waiting),
                    None => stopping = true,
                },
                _ = &mut stopped => stopping = true,
            }
        }
        // Gather what else comes within the linger time (or, when stopping, what is
        // queued); a flush ends the gathering.
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH && waiting.is_empty() {
            let next = if stopping {
                receiver.try_recv().ok()
            } else {
                tokio::select! {
                    got = receiver.recv() => got,
                    _ = tokio::time::sleep_until(deadline) => None,
                    _ = &mut stopped => { stopping = true; None }
                }
            };
            match next {
                Some(item) => take(item, &mut batch, &mut waiting),
                None if stopping => {
                    receiver.close();
                    match receiver.try_recv() {
                        Ok(item) => take(item, &mut batch, &mut waiting),
                        Err(_) => break,
                    }
                }
                None => break,
            }
        }
        if !batch.is_empty() {
            write_until_done(log.as_ref(), &batch).await;
            if let Some(forward) = &forward {
                for record in &batch {
                    let _ = forward.send(record.clone());
                }
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if stopping && receiver.is_empty() {
            return;
        }
    }
}

fn take(item: Item, batch: &mut Vec<AuditRecord>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match item {
        Item::Record(record) => batch.push(*record),
        Item::Flush(done) => waiting.push(done),
    }
}

/// Append a batch, retrying with back-off until it is written.
async fn write_until_done(log: &dyn AuditLog, batch: &[AuditRecord]) {
    let mut wait = Duration::from_millis(100);
    loop {
        match log.append_audit(batch).await {
            Ok(()) => return,
            Err(err) => {
                tracing::error!(error = %err, records = batch.len(), "cannot write audit records; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Delete records older than `days` now and then every hour.
pub async fn prune_periodically(log: Arc<dyn AuditLog>, days: u32) {
    let keep = Duration::from_secs(u64::from(days) * 86_400);
    loop {
        let now = std::time::SystemTime::now();
        let cutoff = now
            .checked_sub(keep)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        match log.prune_audit(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, days, "audit records past retention deleted"),
            Err(err) => tracing::warn!(error = %err, "cannot delete audit records past retention"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
