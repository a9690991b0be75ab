//! The work of a run, instance by instance and in order: read the blob, de-identify it (a few
//! at once, on the blocking threads: the engine is CPU work; compressed pixels a mask must
//! clean decoded first), record the batch's new mapping rows, write the batch. An instance
//! the engine refuses, or whose blob is missing, is reported and the run goes on; a store,
//! index or destination that fails stops it.

use std::sync::Arc;

use bytes::Bytes;
use dicom_dictionary_std::uids;
use futures::StreamExt;
use tessera_dicom::deid::{DeidError, Deidentifier, Outcome};

use super::mapping::MappingLog;
use super::target::{Output, Target};
use crate::index::InstanceRow;
use crate::ops::export::Exported;
use crate::ops::progress::Progress;
use crate::ops::OpsError;
use crate::retrieve::transcode::transcode;
use crate::storage::{BlobStore, StorageError};

/// Instances written together (one STOW-RS request, one ingest session, one mapping
/// transaction, whose commit is an fsync on SQLite), and the most bytes in one batch: as
/// `tessera import` batches.
const BATCH_FILES: usize = 32;
const BATCH_BYTES: usize = 64 << 20;

/// What happened to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deidentified {
    /// Written under `name` as SOP Instance `sop` (or already there, from an earlier run of
    /// the same project).
    Done {
        name: String,
        sop: String,
        bytes: u64,
        already: bool,
    },
    /// The engine would not de-identify it (burned-in text, unreadable): why.
    Refused(String),
    /// Its blob is missing, or the destination refused it: why.
    Failed(String),
}

/// One instance read and de-identified, or why not.
enum Step {
    Ready(Box<Outcome>),
    Refused(String),
    Missing,
    Failed(String),
}

/// Run `rows` through `deid` into `target`; one result per row, in order.
pub async fn run(
    store: &BlobStore,
    rows: &[InstanceRow],
    deid: &Arc<Deidentifier>,
    target: &mut Target,
    mapping: &mut MappingLog,
    jobs: usize,
    progress: &Progress,
) -> Result<Vec<Deidentified>, OpsError> {
    // Each instance its own task, so that reads and de-identification go on while a batch
    // is written: a batch's worth and `jobs` more are under way at once (handed back in
    // order), `jobs` of them de-identifying at a time.
    let working = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let tasks: Vec<_> = rows
        .iter()
        .map(|row| {
            let key = row.blob_key.clone();
            (key, store.clone(), Arc::clone(deid), Arc::clone(&working))
        })
        .collect();
    let mut steps = futures::stream::iter(tasks)
        .map(|(key, store, deid, working)| tokio::spawn(step(store, key, deid, working)))
        .buffered(jobs.max(1) + BATCH_FILES);
    let mut results: Vec<Option<Deidentified>> = vec![None; rows.len()];
    let mut batch: Vec<(usize, Output)> = Vec::new();
    let mut batch_bytes = 0;
    let mut i = 0;
    while let Some(joined) = steps.next().await {
        let step = joined.map_err(|e| OpsError::Task(e.to_string()))??;
        let row = &rows[i];
        if progress.is_cancelled() {
            return Err(OpsError::Cancelled);
        }
        match step {
            Step::Ready(outcome) => {
                mapping.add(&outcome);
                let output = output_of(row, *outcome);
                batch_bytes += output.bytes.len();
                batch.push((i, output));
            }
            Step::Refused(why) => {
                results[i] = Some(Deidentified::Refused(why));
                progress.refuse();
                progress.advance(0);
            }
            Step::Missing | Step::Failed(_) => {
                let why = match step {
                    Step::Failed(why) => why,
                    _ => "its blob is missing from the archive (see `tessera check`)".into(),
                };
                results[i] = Some(Deidentified::Failed(why));
                progress.fail();
                progress.advance(0);
            }
        }
        if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
            write(
                target,
                mapping,
                std::mem::take(&mut batch),
                &mut results,
                progress,
            )
            .await?;
            batch_bytes = 0;
        }
        i += 1;
    }
    write(target, mapping, batch, &mut results, progress).await?;
    mapping.finish().await?;
    target.finish().await?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Deidentified::Failed("not written".into())))
        .collect())
}

/// Read one blob and de-identify it. A store that fails (other than a missing blob) stops
/// the run.
async fn step(
    store: BlobStore,
    key: crate::storage::BlobKey,
    deid: Arc<Deidentifier>,
    working: Arc<tokio::sync::Semaphore>,
) -> Result<Step, OpsError> {
    let _turn = working
        .acquire_owned()
        .await
        .map_err(|e| OpsError::Task(e.to_string()))?;
    let bytes = match store.get(&key).await {
        Ok(bytes) => bytes,
        Err(StorageError::NotFound { .. }) => return Ok(Step::Missing),
        Err(err) => return Err(err.into()),
    };
    let done = tokio::task::spawn_blocking(move || deidentify(&deid, &bytes))
        .await
        .map_err(|e| OpsError::Task(e.to_string()))?;
    Ok(match done {
        Ok(outcome) => Step::Ready(Box::new(outcome)),
        Err(err @ (DeidError::Write(_) | DeidError::WeakSecret { .. })) => {
            Step::Failed(err.to_string())
        }
        Err(err) => Step::Refused(err.to_string()),
    })
}

/// De-identify one instance. One whose pixels a mask must clean but are compressed (or in a
/// deflated data set) is decoded to Explicit VR Little Endian first, and de-identified as
/// that: its pixels are then the decoded ones with the mask applied (for a lossy codec, the
/// values it decodes to), in a native transfer syntax.
fn deidentify(deid: &Deidentifier, bytes: &[u8]) -> Result<Outcome, DeidError> {
    match deid.deidentify(bytes) {
        Err(DeidError::MaskNeedsNativePixels { transfer_syntax }) => {
            let native = transcode(bytes, uids::EXPLICIT_VR_LITTLE_ENDIAN).map_err(|why| {
                DeidError::MaskUnsupported(format!(
                    "its pixel data ({transfer_syntax}) could not be decoded: {why}"
                ))
            })?;
            deid.deidentify(&native)
        }
        other => other,
    }
}

/// The instance as it is written: named by its new UIDs (the originals where the options
/// retain them).
fn output_of(row: &InstanceRow, outcome: Outcome) -> Output {
    let new = |original: &str| {
        outcome
            .uids
            .iter()
            .find(|m| m.original == original)
            .map_or_else(|| original.to_string(), |m| m.replacement.clone())
    };
    let study = new(&row.study_uid);
    let series = new(&row.series_uid);
    let sop = outcome.sop_instance_uid.clone();
    Output {
        name: format!("{study}/{series}/{sop}.dcm"),
        study,
        sop,
        bytes: Bytes::from(outcome.part10),
    }
}

/// Record the batch's mapping rows, then write it.
async fn write(
    target: &mut Target,
    mapping: &mut MappingLog,
    batch: Vec<(usize, Output)>,
    results: &mut [Option<Deidentified>],
    progress: &Progress,
) -> Result<(), OpsError> {
    if batch.is_empty() {
        return Ok(());
    }
    mapping.flush().await?;
    let (places, outputs): (Vec<usize>, Vec<Output>) = batch.into_iter().unzip();
    let described: Vec<(String, String, u64)> = outputs
        .iter()
        .map(|o| (o.name.clone(), o.sop.clone(), o.bytes.len() as u64))
        .collect();
    let written = target.write(outputs).await?;
    for ((place, (name, sop, bytes)), result) in places.into_iter().zip(described).zip(written) {
        results[place] = Some(match result {
            Exported::Written | Exported::AlreadyThere => Deidentified::Done {
                name,
                sop,
                bytes,
                already: result == Exported::AlreadyThere,
            },
            Exported::Failed(why) => {
                progress.fail();
                Deidentified::Failed(why)
            }
        });
        progress.advance(bytes);
    }
    Ok(())
}
