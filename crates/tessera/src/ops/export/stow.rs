//! An export to another archive over STOW-RS: instances read a few at once and sent in
//! requests of several, through the same client as `tessera import --to` (retries when the
//! server is busy, refused credentials stop the sending, 0111 counts as already there).

use std::path::PathBuf;

use bytes::Bytes;
use futures::StreamExt;

use super::{name_of, Exported};
use crate::index::InstanceRow;
use crate::ops::import::load::{Data, Item};
use crate::ops::import::report::{FileResult, Status};
use crate::ops::import::stow::StowClient;
use crate::ops::progress::Progress;
use crate::ops::OpsError;
use crate::storage::{BlobKey, BlobStore, StorageError};

/// Instances per STOW-RS request, and the most bytes in one.
const BATCH_FILES: usize = 16;
const BATCH_BYTES: u64 = 64 << 20;

/// Send every row's blob; one result per row, in order.
pub async fn send(
    store: &BlobStore,
    rows: &[InstanceRow],
    client: &StowClient,
    jobs: usize,
    progress: &Progress,
) -> Result<Vec<Exported>, OpsError> {
    let store = store.clone();
    // Owned keys in the futures: a job runs this inside a spawned task.
    let keys: Vec<BlobKey> = rows.iter().map(|row| row.blob_key.clone()).collect();
    let mut reads = futures::stream::iter(keys.into_iter().enumerate())
        .map(|(i, key)| {
            let store = store.clone();
            async move { (i, store.get(&key).await) }
        })
        .buffered(jobs.max(1));
    let mut results: Vec<Option<Exported>> = vec![None; rows.len()];
    let mut batch: Vec<(usize, Item)> = Vec::new();
    let mut batch_bytes = 0;
    while let Some((i, read)) = reads.next().await {
        let row = &rows[i];
        if progress.is_cancelled() {
            return Err(OpsError::Cancelled);
        }
        match read {
            Ok(bytes) => {
                batch_bytes += row.blob_size;
                batch.push((i, item(row, bytes)));
            }
            Err(StorageError::NotFound { .. }) => {
                results[i] = Some(Exported::Failed(
                    "its blob is missing from the archive (see `tessera check`)".into(),
                ));
                progress.fail();
                progress.advance(row.blob_size);
            }
            Err(err) => return Err(err.into()),
        }
        if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
            flush(client, std::mem::take(&mut batch), &mut results, progress).await;
            batch_bytes = 0;
        }
    }
    flush(client, batch, &mut results, progress).await;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Exported::Failed("not sent".into())))
        .collect())
}

fn item(row: &InstanceRow, bytes: Bytes) -> Item {
    Item {
        path: PathBuf::from(name_of(row)),
        member: None,
        bytes: row.blob_size,
        data: Data::Memory(bytes),
        sop: Some(row.sop_uid.clone()),
        study: Some(row.study_uid.clone()),
        walked: true,
        wrapped: false,
    }
}

async fn flush(
    client: &StowClient,
    batch: Vec<(usize, Item)>,
    results: &mut [Option<Exported>],
    progress: &Progress,
) {
    if batch.is_empty() {
        return;
    }
    let (places, items): (Vec<usize>, Vec<Item>) = batch.into_iter().unzip();
    let sizes: Vec<u64> = items.iter().map(|i| i.bytes).collect();
    let answers = client.send(items).await;
    for ((place, size), answer) in places.into_iter().zip(sizes).zip(answers) {
        if matches!(answer.status, Status::Failed | Status::NotDicom) {
            progress.fail();
        }
        results[place] = Some(exported(answer));
        progress.advance(size);
    }
}

/// What a store's answer for one file (a STOW-RS service's, or the ingest path's) means for
/// the instance sent: 0111 and B000 (already stored) count as already there.
pub(in crate::ops) fn exported(answer: FileResult) -> Exported {
    match answer.status {
        Status::Stored => Exported::Written,
        Status::AlreadyStored => Exported::AlreadyThere,
        Status::Failed | Status::NotDicom => Exported::Failed(
            [
                answer.reason.map(|r| format!("failure reason {r}")),
                answer.message,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": "),
        ),
    }
}
