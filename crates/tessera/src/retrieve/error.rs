//! The retrieve service's error.

use crate::index::IndexError;
use crate::storage::StorageError;

/// WADO-RS retrieve, metadata or bulk data could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    /// No such study, series, instance or bulk data path.
    #[error("{0}")]
    NotFound(String),
    /// The representation asked for cannot be produced (PS3.18 8.7.3: 406).
    #[error("{0}")]
    NotAcceptable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A stored object could not be read back although ingest accepted it: a bug or damage.
    #[error("stored object unreadable: {0}")]
    Unreadable(String),
    #[error("background task failed: {0}")]
    Task(String),
}
