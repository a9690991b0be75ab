//! The WADO-RS service (PS3.18 10.4): retrieve instances as stored or transcoded, their
//! metadata from the index, and their bulk data.
//!
//! - [`instances`]: which bytes each instance of a study, series or instance is answered
//!   with (PS3.18 10.4.1.1.1), decided from the index rows before any blob is read, then
//!   streamed one instance at a time.
//! - [`transcode`]: which transfer syntaxes can be produced from which (PS3.18 8.7.3.5.2),
//!   and the conversion itself.
//! - [`metadata`] and [`cache`]: DICOM JSON / XML of many instances assembled from the
//!   index without touching a blob (PS3.18 10.4.1.1.2), with ETags.
//! - [`bulkdata`] and [`values`]: the bytes behind each BulkDataURI (PS3.18 10.4.1.1.3).
//!
//! Nothing here knows about HTTP: the handlers in `http::wado` negotiate and frame.

pub mod bulkdata;
pub mod cache;
mod error;
pub mod instances;
pub mod metadata;
pub mod transcode;
pub mod values;

use std::sync::Arc;

use crate::index::{Index, InstanceRow};
use crate::metrics::Metrics;
use crate::storage::BlobStore;
pub use error::RetrieveError;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

/// What a WADO-RS request addresses: a study, one of its series, or one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub study: StudyUid,
    pub series: Option<SeriesUid>,
    pub sop: Option<SopInstanceUid>,
}

impl Scope {
    pub fn study(study: StudyUid) -> Self {
        Scope {
            study,
            series: None,
            sop: None,
        }
    }

    pub fn series(study: StudyUid, series: SeriesUid) -> Self {
        Scope {
            study,
            series: Some(series),
            sop: None,
        }
    }

    pub fn instance(study: StudyUid, series: SeriesUid, sop: SopInstanceUid) -> Self {
        Scope {
            study,
            series: Some(series),
            sop: Some(sop),
        }
    }

    /// Whether the scope is exactly one instance.
    pub fn is_instance(&self) -> bool {
        self.sop.is_some()
    }

    /// The resource path, for messages and cache keys.
    pub fn path(&self) -> String {
        let mut path = format!("studies/{}", self.study);
        if let Some(series) = &self.series {
            path.push_str(&format!("/series/{series}"));
        }
        if let Some(sop) = &self.sop {
            path.push_str(&format!("/instances/{sop}"));
        }
        path
    }
}

/// The WADO-RS service shared by the handlers.
pub struct RetrieveService {
    pub index: Arc<dyn Index>,
    pub store: BlobStore,
    /// Shared by every partition's service (its keys, ETags, include the partition's
    /// DICOMweb root).
    pub metadata_cache: Arc<cache::MetadataCache>,
}

impl RetrieveService {
    pub fn new(index: Arc<dyn Index>, store: BlobStore, metrics: Arc<Metrics>) -> Self {
        RetrieveService {
            index,
            store,
            metadata_cache: Arc::new(cache::MetadataCache::new(
                cache::DEFAULT_CAPACITY_BYTES,
                metrics,
            )),
        }
    }

    /// The service of a partition over its own index and store, sharing this one's
    /// metadata cache.
    pub fn for_partition(&self, index: Arc<dyn Index>, store: BlobStore) -> Self {
        RetrieveService {
            index,
            store,
            metadata_cache: Arc::clone(&self.metadata_cache),
        }
    }

    /// The index rows of a scope, in series and instance number order; 404 when none.
    async fn rows(&self, scope: &Scope) -> Result<Vec<InstanceRow>, RetrieveError> {
        let rows = self
            .index
            .instances_of(&scope.study, scope.series.as_ref(), scope.sop.as_ref())
            .await?;
        if rows.is_empty() {
            return Err(not_found(scope));
        }
        Ok(rows)
    }
}

fn not_found(scope: &Scope) -> RetrieveError {
    RetrieveError::NotFound(format!("no instances stored under {}", scope.path()))
}

/// Run CPU-heavy work (parsing, transcoding) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RetrieveError> + Send + 'static,
) -> Result<T, RetrieveError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| RetrieveError::Task(err.to_string()))?
}
