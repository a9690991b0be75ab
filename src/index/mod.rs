//! The index: studies, series and instances with what QIDO matches on and what WADO needs.
//!
//! One trait, [`Index`]; one SQL implementation ([`sql::SqlIndex`]) shared by SQLite
//! ([`sqlite`]) and PostgreSQL ([`postgres`]), which differ only in how they connect, their
//! migrations, and a few words of SQL ([`sql::Dialect`]). Nothing outside this module writes SQL.

mod group;
pub mod model;
pub mod postgres;
pub mod sql;
pub mod sqlite;
mod write;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::DuplicatePolicy;
use crate::dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};
use crate::error::IndexError;
use crate::storage::BlobKey;
pub use model::{InstanceRow, NewInstance, SeriesRow, StoreOutcome, StudyRow};

#[async_trait]
pub trait Index: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Whether the database answers.
    async fn health(&self) -> Result<(), IndexError>;
    /// Record a batch in one transaction; one outcome per input, in input order.
    async fn store(
        &self,
        batch: Vec<NewInstance>,
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError>;
    /// Which of these blob keys some instance row references.
    async fn referenced_blobs(&self, keys: &[BlobKey]) -> Result<HashSet<String>, IndexError>;
    async fn study(&self, uid: &StudyUid) -> Result<Option<StudyRow>, IndexError>;
    async fn series(&self, uid: &SeriesUid) -> Result<Option<SeriesRow>, IndexError>;
    async fn instance(&self, uid: &SopInstanceUid) -> Result<Option<InstanceRow>, IndexError>;
    /// Number of (studies, series, instances).
    async fn counts(&self) -> Result<(i64, i64, i64), IndexError>;
}

/// Connect to the index named by a URL and bring its schema up to date.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Index>, IndexError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::connect(url, max_connections).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::connect(url, max_connections).await?))
    } else {
        Err(IndexError::InvalidUrl {
            url: url.split('@').next_back().unwrap_or_default().to_string(),
            reason: "use sqlite://path or postgres://user@host/db".into(),
        })
    }
}
