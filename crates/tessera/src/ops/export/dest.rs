//! Where an export writes: a folder or an object-store prefix (both through the blob store), or
//! a zip file; each instance as its stored Part 10 file under `{study}/{series}/{sop}.dcm`.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;

use crate::ops::OpsError;
use crate::storage::{BlobKey, BlobStore};

/// An export's destination.
pub enum Destination {
    /// A zip file (stored, not deflated: compressed pixel data gains nothing, and a reader
    /// can seek to any member). Finished by [`Destination::finish`].
    Zip {
        path: PathBuf,
        writer: Option<Box<zip::ZipWriter<std::fs::File>>>,
    },
    /// An object store prefix (`s3://`, `az://`, `gs://`, `file://`).
    Store(BlobStore),
}

impl Destination {
    /// `to`: an object-store URL, a path ending in `.zip`, or a folder (created if missing).
    pub fn open(to: &str) -> Result<Destination, OpsError> {
        let scheme = to.split_once("://").map(|(s, _)| s);
        match scheme {
            Some("s3" | "az" | "gs" | "file") => {
                Ok(Destination::Store(BlobStore::from_url(to, true)?))
            }
            Some(other) => Err(OpsError::Invalid(format!(
                "--to {to}: {other}:// is not a destination here (a folder, a .zip, s3://, az://, gs://, file://, or http(s):// for STOW-RS)"
            ))),
            None if to.to_ascii_lowercase().ends_with(".zip") => {
                let path = PathBuf::from(to);
                if path.exists() {
                    return Err(OpsError::Invalid(format!(
                        "--to {to}: the zip file exists already (an export never overwrites one)"
                    )));
                }
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| OpsError::file(parent, e))?;
                }
                let file = std::fs::File::create(&path).map_err(|e| OpsError::file(&path, e))?;
                Ok(Destination::Zip {
                    path,
                    writer: Some(Box::new(zip::ZipWriter::new(file))),
                })
            }
            None => {
                // A folder is a local blob store: each file written to a temporary name,
                // fsynced and renamed into place (so a file under its final name is whole),
                // its folders synced.
                let path = PathBuf::from(to);
                std::fs::create_dir_all(&path).map_err(|e| OpsError::file(&path, e))?;
                let path = std::path::absolute(&path).map_err(|e| OpsError::file(&path, e))?;
                let url = url::Url::from_directory_path(&path)
                    .map_err(|()| OpsError::Invalid(format!("--to {to}: not a usable folder")))?;
                Ok(Destination::Store(BlobStore::from_url(url.as_str(), true)?))
            }
        }
    }

    /// Whether an earlier run put this file there whole already (a folder or a store: an
    /// export that stopped can be run again and skips what is done).
    pub async fn has(&self, name: &str, size: u64) -> bool {
        match self {
            Destination::Store(store) => store
                .size_of(&BlobKey::from_stored(name.to_string()))
                .await
                .map(|s| s == Some(size))
                .unwrap_or(false),
            Destination::Zip { .. } => false,
        }
    }

    /// Write one file.
    pub async fn write(&mut self, name: &str, bytes: Bytes) -> Result<(), OpsError> {
        match self {
            Destination::Zip { path, writer } => {
                let Some(writer) = writer.as_mut() else {
                    return Err(OpsError::Invalid("the zip file is already finished".into()));
                };
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
                writer
                    .start_file(name, options)
                    .and_then(|()| writer.write_all(&bytes).map_err(Into::into))
                    .map_err(|e| OpsError::file(path, e))
            }
            Destination::Store(store) => {
                let key = BlobKey::from_stored(name.to_string());
                let pending = store.put(&key, bytes).await?;
                store.make_durable(&[pending]).await?;
                Ok(())
            }
        }
    }

    /// Finish the destination (the zip's central directory, synced).
    pub async fn finish(&mut self) -> Result<(), OpsError> {
        if let Destination::Zip { path, writer } = self {
            if let Some(writer) = writer.take() {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let file = writer.finish().map_err(|e| OpsError::file(&path, e))?;
                    file.sync_all().map_err(|e| OpsError::file(&path, e))
                })
                .await
                .map_err(|e| OpsError::Task(e.to_string()))??;
            }
        }
        Ok(())
    }
}
