//! The delete service behind `DELETE /dicom-web/studies/...`: the index change commits
//! first (rows, counts, change feed), then the blobs go. A crash in between leaves orphan
//! blobs, which the sweeper removes; never an index row without its blob.

use std::sync::Arc;

use futures::stream::{self, StreamExt};

use crate::frames::locators::Locators;
use crate::frames::Instance;
use crate::index::{DeleteTarget, Index};
use crate::service::ServiceError;
use crate::storage::BlobStore;

/// Blob deletions in flight at once.
const PARALLEL_DELETES: usize = 16;

pub struct DeleteService {
    pub index: Arc<dyn Index>,
    pub store: BlobStore,
    /// The frames service's instances looked up lately, forgotten at every delete.
    pub locators: Arc<Locators<Instance>>,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteReport {
    pub instances: u64,
    /// Blobs that could not be removed now; the sweeper will.
    pub blobs_left: u64,
}

impl DeleteService {
    /// Delete what `target` names; `None` when nothing stored matches.
    pub async fn delete(&self, target: DeleteTarget) -> Result<Option<DeleteReport>, ServiceError> {
        let Some(deleted) = self.index.delete(target).await? else {
            return Ok(None);
        };
        self.locators.clear();
        let failures = stream::iter(deleted.blobs)
            .map(|key| async move {
                match self.store.delete(&key).await {
                    Ok(()) => 0u64,
                    Err(err) => {
                        tracing::warn!(error = %err, "blob left for the sweeper after a delete");
                        1
                    }
                }
            })
            .buffer_unordered(PARALLEL_DELETES)
            .fold(0u64, |sum, n| async move { sum + n })
            .await;
        // Again: a frame request that read the index before the delete committed may have
        // kept what it found since.
        self.locators.clear();
        Ok(Some(DeleteReport {
            instances: deleted.instances,
            blobs_left: failures,
        }))
    }
}
