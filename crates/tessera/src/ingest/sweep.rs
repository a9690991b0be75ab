//! The orphan sweeper: deletes instance blobs that no index row references and that are
//! older than a grace period (so blobs of requests still in flight are left alone).
//! Blobs are written before their index rows, so this is the only repair ever needed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;

use super::spool;
use crate::index::Index;
use crate::service::ServiceError;
use crate::storage::{BlobKey, BlobStore};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: u64,
    pub deleted: u64,
}

/// Delete unreferenced instance blobs last modified more than `grace` before `now` (the
/// caller's clock: the system's in service, one a test moves forward).
pub async fn sweep_orphans(
    store: &BlobStore,
    index: &Arc<dyn Index>,
    grace: Duration,
    now: SystemTime,
) -> Result<SweepReport, ServiceError> {
    let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = SweepReport::default();
    let mut listing = store.list_instances().chunks(500);
    while let Some(chunk) = listing.next().await {
        let mut candidates: Vec<BlobKey> = Vec::new();
        for item in chunk {
            let item = item?;
            report.examined += 1;
            if item.last_modified <= cutoff {
                candidates.push(item.key);
            }
        }
        if candidates.is_empty() {
            continue;
        }
        let referenced = index.referenced_blobs(&candidates).await?;
        for key in candidates {
            if !referenced.contains(key.as_str()) {
                store.delete(&key).await?;
                report.deleted += 1;
            }
        }
    }
    Ok(report)
}

/// Run [`sweep_orphans`] now and then every `interval` until the task is dropped; each time
/// also remove staging files (`staging`) older than `grace`, left by a stopped process.
pub async fn run_periodically(
    store: BlobStore,
    index: Arc<dyn Index>,
    staging: PathBuf,
    interval: Duration,
    grace: Duration,
) {
    loop {
        let folder = staging.clone();
        match tokio::task::spawn_blocking(move || spool::remove_stale(&folder, grace)).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "stale staging files removed"),
            Err(err) => tracing::warn!(%err, "staging clean-up failed"),
        }
        match sweep_orphans(&store, &index, grace, SystemTime::now()).await {
            Ok(report) => tracing::info!(
                examined = report.examined,
                deleted = report.deleted,
                "orphan blob sweep done"
            ),
            Err(err) => tracing::warn!(%err, "orphan blob sweep failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
