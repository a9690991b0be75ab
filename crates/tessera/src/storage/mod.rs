//! The blob store: DICOM instances as objects, over `object_store` (local disk, memory, S3).
//! Only this module knows how keys look ([`keys`]) and how a URL becomes a store.

mod cached_read;
mod error;
pub mod keys;
mod local;
pub use local::create_folder_synced;
mod space;
mod staged;
mod stream;
mod upload;
mod url;

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

use crate::metrics::{BlobOp, Metrics};

pub use error::StorageError;
pub use keys::BlobKey;
pub use staged::StagedFile;
pub use stream::ByteStream;

/// What a [`BlobStore::put`] leaves to [`BlobStore::make_durable`]: local folders to fsync.
#[derive(Debug, Default, Clone)]
pub struct PendingSync {
    folders: Vec<PathBuf>,
}

/// One object found by [`BlobStore::list_instances`].
#[derive(Debug, Clone)]
pub struct BlobListing {
    pub key: BlobKey,
    pub last_modified: SystemTime,
    pub size: u64,
}

/// The blob store used by every service.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Root folder when the store is the local file system (for fsync).
    local_root: Option<PathBuf>,
    fsync: bool,
    description: String,
    remote: bool,
    /// Where the latency of each call is recorded, when the server's metrics are on.
    metrics: Option<Arc<Metrics>>,
    /// The partition prefix every key is under (`partitions/{name}/`), empty for the
    /// default partition: see [`BlobStore::within_partition`].
    prefix: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl BlobStore {
    /// Build a store from `file:///path`, `memory://` or `s3://bucket?endpoint=..&region=..`.
    pub fn from_url(raw: &str, fsync: bool) -> Result<Self, StorageError> {
        let built = url::build(raw)?;
        Ok(BlobStore {
            store: built.store,
            local_root: built.local_root,
            fsync,
            description: built.description,
            remote: built.remote,
            metrics: None,
            prefix: String::new(),
        })
    }

    /// The same store for partition `name`: every key under `partitions/{name}/` (an
    /// object-store prefix, or that folder of a local store), so that its instance keys
    /// never meet the default partition's or another partition's. Shares the connection
    /// (and the metrics) of this store.
    pub fn within_partition(
        &self,
        name: &crate::partition::PartitionName,
    ) -> Result<BlobStore, StorageError> {
        let prefix = keys::partition_prefix(name);
        let local_root = match &self.local_root {
            Some(root) => {
                let folder = root.join(&prefix);
                create_folder_synced(&folder).map_err(|source| StorageError::Io {
                    operation: "create",
                    path: folder.clone(),
                    source,
                })?;
                Some(folder)
            }
            None => None,
        };
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(
            Arc::clone(&self.store),
            prefix.as_str(),
        ));
        Ok(BlobStore {
            store,
            local_root,
            fsync: self.fsync,
            description: format!("{} (partition {name})", self.description),
            remote: self.remote,
            metrics: self.metrics.clone(),
            prefix: format!("{prefix}/"),
        })
    }

    /// A key as it is named in the whole store, its partition's prefix included: what a
    /// cache shared by every partition keys entries by, so that a frame of instance X in one
    /// partition is never served for X in another.
    pub fn full_key(&self, key: &BlobKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    /// This store, recording the latency of its reads, writes and deletes in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Run `work`, recording how long it took as `op` (failed calls too).
    async fn timed<T>(&self, op: BlobOp, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = work.await;
        if let Some(metrics) = &self.metrics {
            metrics.blob(op, started.elapsed());
        }
        out
    }

    fn path(key: &BlobKey) -> StorePath {
        StorePath::from(key.as_str())
    }

    fn backend(
        operation: &'static str,
        key: &BlobKey,
    ) -> impl FnOnce(object_store::Error) -> StorageError {
        let key = key.to_string();
        move |source| match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound { key },
            source => StorageError::Backend {
                operation,
                key,
                source,
            },
        }
    }

    /// Write one object. Pass what it returns to [`BlobStore::make_durable`] before telling
    /// a client it is stored.
    ///
    /// On the local file system with fsync on, the file is written to a temporary name,
    /// fsynced and renamed here (so the flush overlaps with the next parts of a request);
    /// `make_durable` then syncs only the folders that gained entries.
    pub async fn put(&self, key: &BlobKey, data: Bytes) -> Result<PendingSync, StorageError> {
        self.timed(BlobOp::Put, async {
            if let (Some(root), true) = (&self.local_root, self.fsync) {
                let (root, path) = (root.clone(), root.join(key.as_str()));
                let folders = local::blocking("write", Path::new(key.as_str()), move || {
                    local::write_synced(&root, &path, &data)
                })
                .await?;
                return Ok(PendingSync { folders });
            }
            self.store
                .put(&Self::path(key), PutPayload::from_bytes(data))
                .await
                .map_err(Self::backend("write", key))?;
            Ok(PendingSync::default())
        })
        .await
    }

    /// Store a complete staging file under `key` (see `ingest::spool`). Local stores move the
    /// file into place (fsynced first when fsync is on); other stores upload it in parts, so
    /// it is never read into memory whole.
    pub async fn put_staged(
        &self,
        key: &BlobKey,
        staged: StagedFile,
    ) -> Result<PendingSync, StorageError> {
        self.timed(BlobOp::PutStaged, async {
            if let Some(root) = &self.local_root {
                let (root, path) = (root.clone(), root.join(key.as_str()));
                let fsync = self.fsync;
                let folders = local::blocking("rename", Path::new(key.as_str()), move || {
                    let folders = local::move_into_place(staged.path(), &root, &path, fsync)?;
                    staged.into_path();
                    Ok(folders)
                })
                .await?;
                return Ok(PendingSync {
                    folders: if fsync { folders } else { Vec::new() },
                });
            }
            upload::from_file(self.store.as_ref(), &Self::path(key), staged.path())
                .await
                .map_err(Self::backend("write", key))?;
            Ok(PendingSync::default())
        })
        .await
    }

    /// Where STOW parts too large to hold in memory are staged: inside the root for a local
    /// store (so a staged file is renamed into place), `None` for other stores.
    pub fn staging_dir(&self) -> Option<PathBuf> {
        self.local_root.as_ref().map(|root| root.join(".staging"))
    }

    /// Make written objects durable. S3-compatible stores answer a PUT only once the object is
    /// durable; local files were fsynced by `put` and their changed folders are synced here,
    /// each once per request.
    pub async fn make_durable(&self, pending: &[PendingSync]) -> Result<(), StorageError> {
        let folders: BTreeSet<PathBuf> = pending
            .iter()
            .flat_map(|p| p.folders.iter().cloned())
            .collect();
        if folders.is_empty() {
            return Ok(());
        }
        self.timed(
            BlobOp::Sync,
            local::blocking("fsync", Path::new("<batch>"), move || {
                local::sync_folders(folders)
            }),
        )
        .await
    }

    /// Read a whole object.
    pub async fn get(&self, key: &BlobKey) -> Result<Bytes, StorageError> {
        self.timed(BlobOp::Get, async {
            let result = self
                .store
                .get(&Self::path(key))
                .await
                .map_err(Self::backend("read", key))?;
            result.bytes().await.map_err(Self::backend("read", key))
        })
        .await
    }

    /// Read a byte range of an object.
    pub async fn get_range(&self, key: &BlobKey, range: Range<u64>) -> Result<Bytes, StorageError> {
        if let Some(root) = &self.local_root {
            let read = stream::local_range(root.join(key.as_str()), key.to_string(), range);
            return self.timed(BlobOp::GetRange, read).await;
        }
        self.timed(
            BlobOp::GetRange,
            self.store.get_range(&Self::path(key), range),
        )
        .await
        .map_err(Self::backend("read range of", key))
    }

    /// Stream a whole object (WADO-RS retrieve). The object is opened before this returns,
    /// so a missing blob is an error here rather than in the middle of an answer.
    pub async fn get_stream(&self, key: &BlobKey) -> Result<ByteStream, StorageError> {
        self.timed(BlobOp::OpenStream, self.open_stream(key, None))
            .await
    }

    /// Stream a byte range of an object (bulk data, HTTP Range requests).
    pub async fn get_range_stream(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<ByteStream, StorageError> {
        self.timed(BlobOp::OpenStream, self.open_stream(key, Some(range)))
            .await
    }

    async fn open_stream(
        &self,
        key: &BlobKey,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        if let Some(root) = &self.local_root {
            return stream::local_file(root.join(key.as_str()), key.to_string(), range).await;
        }
        let options = object_store::GetOptions {
            range: range.map(Into::into),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&Self::path(key), options)
            .await
            .map_err(Self::backend("read", key))?;
        let key = key.clone();
        Ok(result
            .into_stream()
            .map(move |chunk| chunk.map_err(Self::backend("read", &key)))
            .boxed())
    }

    /// Delete an object; deleting what is not there is not an error.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        let path = Self::path(key);
        match self.timed(BlobOp::Delete, self.store.delete(&path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StorageError::Backend {
                operation: "delete",
                key: key.to_string(),
                source,
            }),
        }
    }

    /// The size of an object, `None` when there is none.
    pub async fn size_of(&self, key: &BlobKey) -> Result<Option<u64>, StorageError> {
        let path = Self::path(key);
        match self.timed(BlobOp::Head, self.store.head(&path)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(StorageError::Backend {
                operation: "look up",
                key: key.to_string(),
                source,
            }),
        }
    }

    /// Bytes free for this store's files, when it is the local file system.
    pub fn free_space(&self) -> Option<u64> {
        space::available(self.local_root.as_deref()?)
    }

    /// Whether the store answers: a HEAD of a key that does not exist must say "not found".
    pub async fn health(&self) -> Result<(), StorageError> {
        let probe = BlobKey::from_stored(".tessera-health-probe");
        match self.store.head(&Self::path(&probe)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StorageError::Backend {
                operation: "probe",
                key: probe.to_string(),
                source,
            }),
        }
    }

    /// Every instance blob, for the orphan sweeper.
    pub fn list_instances(&self) -> BoxStream<'static, Result<BlobListing, StorageError>> {
        let prefix = StorePath::from(keys::INSTANCE_PREFIX);
        self.store
            .list(Some(&prefix))
            .map(|item| {
                item.map(|meta| BlobListing {
                    key: BlobKey::from_stored(meta.location.to_string()),
                    last_modified: meta.last_modified.into(),
                    size: meta.size,
                })
                .map_err(|source| StorageError::Backend {
                    operation: "list",
                    key: keys::INSTANCE_PREFIX.to_string(),
                    source,
                })
            })
            .boxed()
    }

    /// Whether reads cross a network (S3). Local files sit in the OS page cache and memory
    /// blobs in memory already, so caching their bytes again only costs memory.
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}
