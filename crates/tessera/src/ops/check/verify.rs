//! `tessera check --verify`: read one blob and compare it with its row: its SHA-256 with the
//! one recorded at ingest, and what it parses to (UIDs, frame ranges) with the row's.

use futures::StreamExt;

use super::findings::Finding;
use crate::digest::{sha256_hex, Sha256Stream};
use crate::index::BlobRow;
use crate::ops::OpsError;
use crate::storage::{BlobStore, StorageError};
use tessera_dicom::extract;
use tessera_dicom::limits::ParseLimits;

/// Largest blob read whole to be parsed as well as hashed; larger ones are hashed as a
/// stream (memory stays a few chunks) and only their size and frame ranges are checked.
const PARSE_LIMIT: u64 = 256 << 20;

/// What is wrong with one row's blob; nothing when it is what the row says.
pub async fn verify(store: &BlobStore, row: &BlobRow) -> Result<Vec<Finding>, OpsError> {
    let read = if row.blob_size <= PARSE_LIMIT {
        store.get(&row.blob_key).await.map(Some)
    } else {
        Ok(None)
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(StorageError::NotFound { .. }) => return Ok(vec![missing(row)]),
        Err(err) => return Err(err.into()),
    };
    let (actual, parsed) = match bytes {
        Some(bytes) => {
            let row = row.clone();
            tokio::task::spawn_blocking(move || (sha256_hex(&bytes), Some(compare(&bytes, &row))))
                .await
                .map_err(|err| OpsError::Task(err.to_string()))?
        }
        None => match hash_stream(store, row).await {
            Ok(hash) => (hash, None),
            Err(StorageError::NotFound { .. }) => return Ok(vec![missing(row)]),
            Err(err) => return Err(err.into()),
        },
    };
    let mut found = Vec::new();
    if let Some(recorded) = &row.blob_sha256 {
        if recorded != &actual {
            found.push(Finding::HashMismatch {
                sop: row.sop_uid.clone(),
                key: row.blob_key.to_string(),
                recorded: recorded.clone(),
                actual,
            });
        }
    }
    if let Some(Some(reason)) = parsed {
        found.push(Finding::WrongContent {
            sop: row.sop_uid.clone(),
            key: row.blob_key.to_string(),
            reason,
        });
    }
    Ok(found)
}

fn missing(row: &BlobRow) -> Finding {
    Finding::MissingBlob {
        study: row.study_uid.clone(),
        series: row.series_uid.clone(),
        sop: row.sop_uid.clone(),
        key: row.blob_key.to_string(),
    }
}

async fn hash_stream(store: &BlobStore, row: &BlobRow) -> Result<String, StorageError> {
    let mut stream = store.get_stream(&row.blob_key).await?;
    let mut hash = Sha256Stream::default();
    while let Some(piece) = stream.next().await {
        hash.update(&piece?);
    }
    Ok(hash.finish())
}

/// Why the blob is not the instance its row describes, if it is not.
fn compare(bytes: &[u8], row: &BlobRow) -> Option<String> {
    let extracted = match extract::parse_with(bytes, &ParseLimits::STORED)
        .and_then(|parsed| parsed.extract())
    {
        Ok(extracted) => extracted,
        Err(err) => return Some(format!("does not parse: {err}")),
    };
    let found = (
        extracted.study_uid.as_str(),
        extracted.series_uid.as_str(),
        extracted.sop_uid.as_str(),
    );
    let recorded = (
        row.study_uid.as_str(),
        row.series_uid.as_str(),
        row.sop_uid.as_str(),
    );
    if found != recorded {
        return Some(format!(
            "holds instance {} of series {} of study {}",
            found.2, found.1, found.0
        ));
    }
    if row.frames.is_some() && extracted.frames != row.frames {
        return Some(
            "the recorded frame ranges are not the blob's (damaged, or recorded by an older \
             version)"
                .into(),
        );
    }
    None
}
