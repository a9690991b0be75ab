//! A file in the staging folder holding one received instance: moved (local disk) or
//! uploaded (S3) into the store, or removed when dropped.

use std::path::{Path, PathBuf};

/// A complete staging file; removed when dropped unless [`StagedFile::into_path`] took it.
#[derive(Debug)]
pub struct StagedFile {
    path: Option<PathBuf>,
    len: u64,
}

impl StagedFile {
    /// An empty staging file just created at `path`; it is removed when dropped.
    pub fn new(path: PathBuf) -> Self {
        StagedFile {
            path: Some(path),
            len: 0,
        }
    }

    /// Count `bytes` more written to it.
    pub fn grow(&mut self, bytes: u64) {
        self.len += bytes;
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Take the file over: it is no longer removed on drop (it was renamed into the store).
    pub fn into_path(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if let Err(err) = std::fs::remove_file(&path) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%err, path = %path.display(), "could not remove a staging file");
                }
            }
        }
    }
}
