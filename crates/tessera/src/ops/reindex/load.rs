//! Read one blob for a rebuild and turn it into the row it had: parsed as ingest parses it,
//! hashed, under its existing key. Small blobs are read into memory; large ones are copied
//! to a temporary file and mapped, so memory stays bounded whatever an instance's size.

use std::io::Write;
use std::path::Path;

use futures::StreamExt;

use crate::index::NewInstance;
use crate::ops::OpsError;
use crate::storage::{BlobListing, BlobStore};
use tessera_dicom::extract;
use tessera_dicom::limits::ParseLimits;

/// Blobs up to this size are read into memory.
const IN_MEMORY: u64 = 64 << 20;

/// The row of one blob, or why it cannot be one (it does not parse).
pub async fn load(
    store: &BlobStore,
    blob: &BlobListing,
    scratch: &Path,
) -> Result<Result<NewInstance, String>, OpsError> {
    let key = blob.key.clone();
    let size = blob.size;
    if size <= IN_MEMORY {
        let bytes = store.get(&key).await?;
        return tokio::task::spawn_blocking(move || row_of(&bytes, key, size))
            .await
            .map_err(|err| OpsError::Task(err.to_string()));
    }
    let mut file = tempfile::tempfile_in(scratch).map_err(|err| OpsError::file(scratch, err))?;
    let mut stream = store.get_stream(&key).await?;
    while let Some(piece) = stream.next().await {
        file.write_all(&piece?)
            .map_err(|err| OpsError::file(scratch, err))?;
    }
    let scratch = scratch.to_path_buf();
    tokio::task::spawn_blocking(move || {
        // SAFETY: the file is this process's own unnamed temporary file, written above and
        // not written again while mapped.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|err| OpsError::file(&scratch, err))?;
        Ok(row_of(&map, key, size))
    })
    .await
    .map_err(|err| OpsError::Task(err.to_string()))?
}

fn row_of(bytes: &[u8], key: crate::storage::BlobKey, size: u64) -> Result<NewInstance, String> {
    let extracted = extract::parse_with(bytes, &ParseLimits::STORED)
        .and_then(|parsed| parsed.extract())
        .map_err(|err| err.to_string())?;
    Ok(NewInstance {
        extracted,
        blob_key: key,
        blob_size: size,
        blob_sha256: Some(crate::digest::sha256_hex(bytes)),
    })
}
