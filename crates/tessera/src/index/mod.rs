//! The index: studies, series and instances with what QIDO matches on and what WADO needs.
//!
//! One trait, [`Index`]; one SQL implementation ([`sql::SqlIndex`]) shared by SQLite
//! ([`sqlite`]) and PostgreSQL ([`postgres`]), which differ only in how they connect, their
//! migrations, and a few words of SQL ([`sql::Dialect`]). Nothing outside this module writes SQL.

mod access;
mod audit;
pub mod changes;
mod consistency;
mod deid_mapping;
mod delete;
mod dialect;
mod error;
mod group;
mod jobs;
mod migrations;
pub mod model;
mod open;
mod partitions;
mod policy;
mod pool;
pub mod postgres;
mod search;
pub mod sql;
pub mod sqlite;
mod statements;
pub mod statistics;
mod timed;
mod upkeep;
mod workers;
mod write;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::audit::AuditLog;
use crate::auth::api_key::ApiKeyStore;
use crate::query::extra::ExtraAttribute;
use crate::query::SearchQuery;
use crate::storage::BlobKey;
pub use changes::{ChangeAction, ChangeEntry, ChangeState};
pub use error::IndexError;
pub use migrations::{MigrationReport, MigrationStep, Migrations};
pub use model::{
    BlobRow, CountMismatch, DeleteTarget, Deleted, InstanceDocument, InstanceRow, NewInstance,
    SearchRow, SeriesRow, StoreOutcome, StudyRow,
};
pub use partitions::{
    migrate_partition, open_partition, place as partition_place, PartitionIndexPlace,
    PartitionRegistry,
};
pub use policy::{DuplicatePolicy, UnknownPolicy};
pub use pool::PoolSettings;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};
pub use timed::timed;

#[async_trait]
pub trait Index: Send + Sync + 'static {
    /// The API keys kept in this index.
    fn api_key_store(self: Arc<Self>) -> Arc<dyn ApiKeyStore>;
    /// The audit trail kept in this index.
    fn audit_log(self: Arc<Self>) -> Arc<dyn AuditLog>;
    /// The jobs kept in this index.
    fn job_store(self: Arc<Self>) -> Arc<dyn crate::jobs::JobStore>;
    /// The partitions registered in this index (the default partition's).
    fn partition_registry(self: Arc<Self>) -> Arc<dyn PartitionRegistry>;
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
    /// One instance by its UID, without its metadata (`metadata` is empty): frames, rendered
    /// images and retrieve need its location and pixel description only.
    async fn instance(&self, uid: &SopInstanceUid) -> Result<Option<InstanceRow>, IndexError>;
    /// The instances of a study, optionally of one series or one instance, in series and
    /// instance number order (WADO-RS retrieve and metadata).
    async fn instances_of(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<InstanceRow>, IndexError>;
    /// The stored DICOM JSON of the same instances as [`Index::instances_of`], in the same
    /// order, without the other columns (WADO-RS metadata).
    async fn instance_documents(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<InstanceDocument>, IndexError>;
    /// (SOP Instance UID, updated_at) of the same instances as [`Index::instances_of`],
    /// without their metadata: what a WADO-RS metadata ETag is computed from.
    async fn instance_versions(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<(String, i64)>, IndexError>;
    /// Number of (studies, series, instances).
    async fn counts(&self) -> Result<(i64, i64, i64), IndexError>;
    /// Remove what the target names (rows, counts, change feed) in one transaction; `None`
    /// when nothing stored matches. The returned blobs are the caller's to delete.
    async fn delete(&self, target: DeleteTarget) -> Result<Option<Deleted>, IndexError>;
    /// Change-feed entries after sequence number `after`, oldest first.
    async fn changes(
        &self,
        after: i64,
        limit: u32,
        with_metadata: bool,
    ) -> Result<Vec<ChangeEntry>, IndexError>;
    /// The newest change-feed entry, of the whole archive or of one study.
    async fn latest_change(
        &self,
        study: Option<&StudyUid>,
    ) -> Result<Option<ChangeEntry>, IndexError>;
    /// Take or renew a feed worker's lease; its cursor when `holder` has it.
    async fn claim_worker(
        &self,
        name: &str,
        holder: &str,
        lease_micros: i64,
    ) -> Result<Option<i64>, IndexError>;
    /// Store a feed worker's cursor if `holder` still has the lease.
    async fn advance_worker(
        &self,
        name: &str,
        holder: &str,
        cursor: i64,
        last_error: Option<&str>,
    ) -> Result<bool, IndexError>;
    /// Give up a feed worker's lease held by `holder`.
    async fn release_worker(&self, name: &str, holder: &str) -> Result<(), IndexError>;
    /// A feed worker's stored cursor (0 when it never ran).
    async fn worker_cursor(&self, name: &str) -> Result<i64, IndexError>;
    /// QIDO-RS: up to `limit + 1` rows from `offset` (the extra row tells the result was cut).
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchRow>, IndexError>;
    /// How many rows match a query's filters, ignoring its limit and offset.
    async fn count_matches(&self, query: &SearchQuery) -> Result<u64, IndexError>;
    /// The database's plan for a query (EXPLAIN), for tests and the benchmark.
    async fn explain(&self, query: &SearchQuery) -> Result<String, IndexError>;
    /// Refresh the planner's statistics (ANALYZE).
    async fn analyze(&self) -> Result<(), IndexError>;
    /// Up to `limit` instance rows after SOP Instance UID `after`, in UID order, with what a
    /// check of their blobs needs (`tessera check`).
    async fn blob_rows(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlobRow>, IndexError>;
    /// Study and series rows whose counts are not those of their rows, and instance rows
    /// without a series or study row.
    async fn count_mismatches(&self) -> Result<Vec<CountMismatch>, IndexError>;
    /// Recount a study's series and the study from the instance rows (dropping rows left
    /// empty), in one transaction.
    async fn recount(&self, study: &str) -> Result<(), IndexError>;
}

/// Connect to the index named by a URL and bring its schema up to date.
/// Extra query attributes are indexed at ingest and back-filled here when new.
pub async fn connect(
    url: &str,
    pool: PoolSettings,
    extras: Vec<ExtraAttribute>,
) -> Result<Arc<dyn Index>, IndexError> {
    connect_with(url, pool, extras, Migrations::Apply).await
}

/// [`connect`], applying missing migrations or refusing while any is missing.
pub async fn connect_with(
    url: &str,
    pool: PoolSettings,
    extras: Vec<ExtraAttribute>,
    mode: Migrations,
) -> Result<Arc<dyn Index>, IndexError> {
    Ok(Arc::new(open::open(url, pool, extras, mode).await?))
}

/// Apply the migrations the database has not had (`tessera migrate`), and nothing else,
/// waiting at most `acquire_timeout` for the database.
pub async fn migrate(
    url: &str,
    acquire_timeout: std::time::Duration,
) -> Result<MigrationReport, IndexError> {
    open::migrate(url, acquire_timeout).await
}
