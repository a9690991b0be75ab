//! The error of the operators' commands.

use crate::index::IndexError;
use crate::storage::StorageError;

/// An operator's command could not run (a bad instance or file is reported, not an error).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    ExtraAttribute(#[from] crate::query::extra::ExtraAttributeError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error(transparent)]
    Jobs(#[from] crate::jobs::JobStoreError),
    #[error("cannot write the audit record: {0}")]
    Audit(#[from] crate::audit::AuditLogError),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("background task failed: {0}")]
    Task(String),
    #[error("cancelled")]
    Cancelled,
}

impl OpsError {
    /// A file or folder that could not be read or written.
    pub fn file(path: &std::path::Path, err: impl std::fmt::Display) -> OpsError {
        OpsError::File {
            path: path.display().to_string(),
            reason: err.to_string(),
        }
    }
}
