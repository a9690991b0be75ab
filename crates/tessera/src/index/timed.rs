//! An [`Index`] that records how long each call to another one takes, from the wait for a
//! database connection to the answer (failures too), in the process's metrics: a layer
//! chosen once at start, so that the SQL index itself knows nothing of metrics.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::model::{
    BlobRow, CountMismatch, DeleteTarget, Deleted, InstanceDocument, InstanceRow, NewInstance,
    SearchRow, SeriesRow, StoreOutcome, StudyRow,
};
use super::{ChangeEntry, DuplicatePolicy, Index, IndexError};
use crate::audit::AuditLog;
use crate::auth::api_key::ApiKeyStore;
use crate::metrics::{IndexOp, Metrics};
use crate::query::SearchQuery;
use crate::storage::BlobKey;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

/// `index`, its calls timed into `metrics`.
pub fn timed(index: Arc<dyn Index>, metrics: Arc<Metrics>) -> Arc<dyn Index> {
    Arc::new(TimedIndex {
        inner: index,
        metrics,
    })
}

struct TimedIndex {
    inner: Arc<dyn Index>,
    metrics: Arc<Metrics>,
}

impl TimedIndex {
    async fn time<T>(&self, op: IndexOp, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        self.metrics.index(op, started.elapsed());
        out
    }
}

#[async_trait]
impl Index for TimedIndex {
    // The stores kept beside the index are other traits, not timed here.
    fn api_key_store(self: Arc<Self>) -> Arc<dyn ApiKeyStore> {
        Arc::clone(&self.inner).api_key_store()
    }

    fn audit_log(self: Arc<Self>) -> Arc<dyn AuditLog> {
        Arc::clone(&self.inner).audit_log()
    }

    fn job_store(self: Arc<Self>) -> Arc<dyn crate::jobs::JobStore> {
        Arc::clone(&self.inner).job_store()
    }

    fn partition_registry(self: Arc<Self>) -> Arc<dyn super::PartitionRegistry> {
        Arc::clone(&self.inner).partition_registry()
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn health(&self) -> Result<(), IndexError> {
        self.time(IndexOp::Health, self.inner.health()).await
    }

    async fn store(
        &self,
        batch: Vec<NewInstance>,
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError> {
        self.time(IndexOp::Store, self.inner.store(batch, policy))
            .await
    }

    async fn referenced_blobs(&self, keys: &[BlobKey]) -> Result<HashSet<String>, IndexError> {
        self.time(IndexOp::Read, self.inner.referenced_blobs(keys))
            .await
    }

    async fn study(&self, uid: &StudyUid) -> Result<Option<StudyRow>, IndexError> {
        self.time(IndexOp::Read, self.inner.study(uid)).await
    }

    async fn series(&self, uid: &SeriesUid) -> Result<Option<SeriesRow>, IndexError> {
        self.time(IndexOp::Read, self.inner.series(uid)).await
    }

    async fn instance(&self, uid: &SopInstanceUid) -> Result<Option<InstanceRow>, IndexError> {
        self.time(IndexOp::Read, self.inner.instance(uid)).await
    }

    async fn instances_of(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<InstanceRow>, IndexError> {
        self.time(IndexOp::Read, self.inner.instances_of(study, series, sop))
            .await
    }

    async fn instance_documents(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<InstanceDocument>, IndexError> {
        self.time(
            IndexOp::Read,
            self.inner.instance_documents(study, series, sop),
        )
        .await
    }

    async fn instance_versions(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<(String, i64)>, IndexError> {
        self.time(
            IndexOp::Read,
            self.inner.instance_versions(study, series, sop),
        )
        .await
    }

    async fn counts(&self) -> Result<(i64, i64, i64), IndexError> {
        self.time(IndexOp::Read, self.inner.counts()).await
    }

    async fn delete(&self, target: DeleteTarget) -> Result<Option<Deleted>, IndexError> {
        self.time(IndexOp::Delete, self.inner.delete(target)).await
    }

    async fn changes(
        &self,
        after: i64,
        limit: u32,
        with_metadata: bool,
    ) -> Result<Vec<ChangeEntry>, IndexError> {
        self.time(
            IndexOp::Feed,
            self.inner.changes(after, limit, with_metadata),
        )
        .await
    }

    async fn latest_change(
        &self,
        study: Option<&StudyUid>,
    ) -> Result<Option<ChangeEntry>, IndexError> {
        self.time(IndexOp::Feed, self.inner.latest_change(study))
            .await
    }

    async fn claim_worker(
        &self,
        name: &str,
        holder: &str,
        lease_micros: i64,
    ) -> Result<Option<i64>, IndexError> {
        self.time(
            IndexOp::Worker,
            self.inner.claim_worker(name, holder, lease_micros),
        )
        .await
    }

    async fn advance_worker(
        &self,
        name: &str,
        holder: &str,
        cursor: i64,
        last_error: Option<&str>,
    ) -> Result<bool, IndexError> {
        self.time(
            IndexOp::Worker,
            self.inner.advance_worker(name, holder, cursor, last_error),
        )
        .await
    }

    async fn release_worker(&self, name: &str, holder: &str) -> Result<(), IndexError> {
        self.time(IndexOp::Worker, self.inner.release_worker(name, holder))
            .await
    }

    async fn worker_cursor(&self, name: &str) -> Result<i64, IndexError> {
        self.time(IndexOp::Worker, self.inner.worker_cursor(name))
            .await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchRow>, IndexError> {
        self.time(IndexOp::Search, self.inner.search(query)).await
    }

    async fn count_matches(&self, query: &SearchQuery) -> Result<u64, IndexError> {
        self.time(IndexOp::Search, self.inner.count_matches(query))
            .await
    }

    async fn explain(&self, query: &SearchQuery) -> Result<String, IndexError> {
        self.time(IndexOp::Upkeep, self.inner.explain(query)).await
    }

    async fn analyze(&self) -> Result<(), IndexError> {
        self.time(IndexOp::Upkeep, self.inner.analyze()).await
    }

    async fn blob_rows(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlobRow>, IndexError> {
        self.time(IndexOp::Upkeep, self.inner.blob_rows(after, limit))
            .await
    }

    async fn count_mismatches(&self) -> Result<Vec<CountMismatch>, IndexError> {
        self.time(IndexOp::Upkeep, self.inner.count_mismatches())
            .await
    }

    async fn recount(&self, study: &str) -> Result<(), IndexError> {
        self.time(IndexOp::Upkeep, self.inner.recount(study)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_timed_under_its_operation() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        let metrics = Arc::new(Metrics::new());
        let pool = super::super::PoolSettings {
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(2),
        };
        let index = super::super::connect(&url, pool, Vec::new()).await.unwrap();
        let index = timed(index, Arc::clone(&metrics));
        index.health().await.unwrap();
        index.counts().await.unwrap();
        let uid = StudyUid::parse("1.2.3").unwrap();
        index.study(&uid).await.unwrap();
        index.changes(0, 10, false).await.unwrap();
        let text = metrics.render();
        for (op, n) in [("health", 1), ("read", 2), ("feed", 1), ("store", 0)] {
            let line = format!(
                "tessera_index_operation_duration_seconds_count{{operation=\"{op}\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line}");
        }
    }
}
