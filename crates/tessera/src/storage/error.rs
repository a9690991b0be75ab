//! The blob store's error.

use std::path::{Path, PathBuf};

/// The blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported storage URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("blob {key} not found")]
    NotFound { key: String },
    #[error("blob store failed to {operation} {key}: {source}")]
    Backend {
        operation: &'static str,
        key: String,
        source: object_store::Error,
    },
    #[error("local file system failed to {operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StorageError {
    /// Whether the store failed because its file system is full (ENOSPC, or a quota).
    pub fn is_full(&self) -> bool {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = current {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::StorageFull
                    || io.kind() == std::io::ErrorKind::QuotaExceeded
                {
                    return true;
                }
            }
            current = err.source();
        }
        false
    }

    /// Turns an I/O error of `operation` on `path` into a [`StorageError::Io`] (for `map_err`).
    pub fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            operation,
            path,
            source,
        }
    }
}
