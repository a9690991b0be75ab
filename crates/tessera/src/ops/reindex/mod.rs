//! `tessera reindex`: rebuild the index from the blob store alone, for when the database is
//! lost. Every instance blob is read and parsed as ingest parses it, and recorded under its
//! existing key through the same index writer (study and series rows, frame ranges, extra
//! query attributes, the change feed). Blobs already referenced are skipped, so a rebuild
//! that stopped can be run again; an instance already recorded from another copy keeps it.

mod load;
mod plan;

use std::collections::HashSet;
use std::io::Write;

use clap::Args;
use futures::StreamExt;

use super::progress::Progress;
use super::{Archive, Finished, OpsError};
use crate::audit::{Action, AuditRecord, EventType, Outcome};
use crate::config::Settings;
use crate::index::{DuplicatePolicy, NewInstance, StoreOutcome};
use crate::storage::{BlobKey, BlobListing};

/// Instances recorded per index transaction.
const BATCH: usize = 64;
/// Keys looked up per query when finding what is already indexed.
const LOOKUP: usize = 500;
/// Failures printed one per line; the rest are counted.
const PRINTED: usize = 100;

/// How `tessera reindex` works.
#[derive(Debug, Clone, Args)]
pub struct ReindexOptions {
    /// Blobs read and parsed at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Rebuild this partition's index from its blob prefix (`partitions/NAME/`) instead of
    /// the default's; the partition is registered if the registry lost it.
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
}

/// What one rebuild did.
#[derive(Debug, Default)]
pub struct ReindexReport {
    pub blobs: u64,
    pub indexed: u64,
    pub bytes: u64,
    /// Blobs whose row existed already.
    pub already: u64,
    /// Older copies of an instance, not indexed (the sweeper removes them).
    pub superseded: u64,
    /// Blobs that could not be indexed, with why.
    pub failed: Vec<(BlobKey, String)>,
    pub seconds: f64,
}

/// `tessera reindex`: rebuild, print a summary, record it in the audit trail.
pub async fn run(settings: &Settings, options: &ReindexOptions) -> Result<Finished, OpsError> {
    let archive = Archive::open(settings).await?;
    let archive = match &options.partition {
        Some(name) => {
            let name = crate::partition::PartitionName::parse(name)
                .map_err(|e| OpsError::Invalid(e.to_string()))?;
            if name.is_default() {
                archive
            } else {
                archive.within(name).await?
            }
        }
        None => archive,
    };
    let report = reindex(&archive, options).await?;
    let mut out = std::io::stdout().lock();
    for (key, reason) in report.failed.iter().take(PRINTED) {
        let _ = writeln!(out, "not indexed: {key}: {reason}");
    }
    if report.failed.len() > PRINTED {
        let _ = writeln!(out, "... and {} more", report.failed.len() - PRINTED);
    }
    let detail = format!(
        "{} blobs: {} instances indexed ({:.1} MB), {} already indexed, {} older copies passed over, {} failed",
        report.blobs,
        report.indexed,
        report.bytes as f64 / 1e6,
        report.already,
        report.superseded,
        report.failed.len()
    );
    let _ = writeln!(
        out,
        "{detail}; {:.1} s, {:.0} instances/s",
        report.seconds,
        report.indexed as f64 / report.seconds.max(1e-3)
    );
    drop(out);
    archive
        .audit(AuditRecord::of_command(
            EventType::Import,
            Action::Create,
            if report.failed.is_empty() {
                Outcome::Success
            } else {
                Outcome::MinorFailure
            },
            "reindex",
            archive.store.description(),
            detail,
        ))
        .await?;
    Ok(if report.failed.is_empty() {
        Finished::Clean
    } else {
        Finished::Problems
    })
}

/// Rebuild the index from the store's listing.
pub async fn reindex(
    archive: &Archive,
    options: &ReindexOptions,
) -> Result<ReindexReport, OpsError> {
    let mut report = ReindexReport::default();
    let mut listing: Vec<BlobListing> = Vec::new();
    let mut stream = archive.store.list_instances();
    while let Some(item) = stream.next().await {
        listing.push(item?);
    }
    report.blobs = listing.len() as u64;
    let mut todo = Vec::with_capacity(listing.len());
    for chunk in listing.chunks(LOOKUP) {
        let keys: Vec<BlobKey> = chunk.iter().map(|b| b.key.clone()).collect();
        let known: HashSet<String> = archive.index.referenced_blobs(&keys).await?;
        for blob in chunk {
            if known.contains(blob.key.as_str()) {
                report.already += 1;
            } else {
                todo.push(blob.clone());
            }
        }
    }
    let plan = plan::choose(todo);
    report.superseded = plan.superseded;
    let progress = Progress::new("reindex", plan.chosen.len() as u64);
    let scratch = std::env::temp_dir();
    let store = archive.store.clone();
    let mut loads = futures::stream::iter(plan.chosen)
        .map(|blob| {
            let store = store.clone();
            let scratch = scratch.clone();
            async move {
                let loaded = load::load(&store, &blob, &scratch).await;
                (blob, loaded)
            }
        })
        .buffered(options.jobs.max(1));
    let mut batch: Vec<NewInstance> = Vec::with_capacity(BATCH);
    while let Some((blob, loaded)) = loads.next().await {
        progress.advance(blob.size);
        match loaded? {
            Ok(row) => batch.push(row),
            Err(reason) => report.failed.push((blob.key, reason)),
        }
        if batch.len() >= BATCH {
            record(archive, std::mem::take(&mut batch), &mut report).await?;
        }
    }
    record(archive, batch, &mut report).await?;
    progress.finish();
    report.seconds = progress.done().2;
    Ok(report)
}

/// Record a batch, keeping any row already there (a copy indexed before this one).
async fn record(
    archive: &Archive,
    batch: Vec<NewInstance>,
    report: &mut ReindexReport,
) -> Result<(), OpsError> {
    if batch.is_empty() {
        return Ok(());
    }
    let keys: Vec<(BlobKey, u64)> = batch
        .iter()
        .map(|b| (b.blob_key.clone(), b.blob_size))
        .collect();
    let outcomes = archive
        .index
        .store(batch, DuplicatePolicy::KeepFirst)
        .await?;
    for ((key, size), outcome) in keys.into_iter().zip(outcomes) {
        match outcome {
            StoreOutcome::Stored | StoreOutcome::Replaced { .. } => {
                report.indexed += 1;
                report.bytes += size;
            }
            StoreOutcome::DuplicateKept | StoreOutcome::DuplicateRejected => report.superseded += 1,
            StoreOutcome::SeriesInOtherStudy { existing_study } => report.failed.push((
                key,
                format!("its series is already recorded under study {existing_study}"),
            )),
        }
    }
    Ok(())
}
