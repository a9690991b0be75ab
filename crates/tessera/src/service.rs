//! The error of the services that only reach the stores and the query model (ingest, the
//! orphan sweep, search, delete); frames and retrieve have errors of their own.

use crate::index::IndexError;
use crate::query::QueryError;
use crate::storage::StorageError;

/// A service (ingest, sweep) could not reach its stores.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("background task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}
