//! The frames service: WADO-RS frames (PS3.18 10.4, 8.7.3), rendered images and thumbnails
//! (PS3.18 10.4.1.1.3, 8.3.5), over the blob store, the index and the frame cache.
//!
//! The hot path, a viewer fetching frames as stored, is one primary-key lookup in the index,
//! then the cache or one range GET per frame: the blob is never parsed. Decoding (to native
//! little endian) and rendering read the instance's pixel description from the blob's prefix
//! once, decode only the frames asked for, and run off the async runtime, at most one job
//! per core at a time.

pub mod cache;
pub mod decode;
mod error;
pub mod info;
pub mod jpeg;
pub mod list;
pub mod locators;
pub mod params;
pub mod read;
pub mod render;
pub mod rle;
pub mod syntax;
pub mod whole;
pub mod window;

use dicom_dictionary_std::uids;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use crate::index::{Index, InstanceRow};
use crate::metrics::Metrics;
use crate::storage::{BlobStore, StorageError};
use cache::{CacheKey, Cached, FrameCache, Kind};
pub use error::FrameError;
use info::PixelInfo;
use locators::Locators;
use params::RenderParams;
use render::ImageFormat;
use syntax::{is_native, Source, Stored};
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

/// Frames fetched at once for one multi-frame request.
const FETCH_CONCURRENCY: usize = 8;

/// An instance as the frames service sees it: its index row and its cache identity.
#[derive(Debug, Clone)]
pub struct Instance {
    pub row: InstanceRow,
    blob: Arc<str>,
}

impl Instance {
    /// The instance of `row`, cached under its blob's key in the whole store (`full_key`,
    /// its partition's prefix included: the cache is shared by every partition).
    pub fn new(row: InstanceRow, full_key: &str) -> Self {
        let blob = Arc::from(full_key);
        Instance { row, blob }
    }

    /// Number of frames (1 for a single-frame image).
    pub fn frame_count(&self) -> u32 {
        match &self.row.frames {
            Some(frames) => u32::try_from(frames.len()).unwrap_or(u32::MAX),
            None => u32::try_from(self.row.number_of_frames.unwrap_or(1).max(1)).unwrap_or(1),
        }
    }

    /// The transfer syntax of the frames as stored: a deflated data set's frames (found by
    /// parsing the whole object) are Explicit VR Little Endian once inflated.
    pub fn stored_syntax(&self) -> &str {
        let ts = self.row.transfer_syntax_uid.as_str();
        if self.row.frames.is_none() && is_native(ts) {
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        } else {
            ts
        }
    }

    /// What negotiation needs to know.
    pub fn stored(&self) -> Stored<'_> {
        let transfer_syntax = self.stored_syntax();
        Stored {
            transfer_syntax,
            decodable: decode::can_decode(transfer_syntax),
        }
    }

    fn ranges(&self, frame: u32) -> Option<&[(u64, u64)]> {
        let index = usize::try_from(frame.checked_sub(1)?).ok()?;
        self.row.frames.as_ref()?.get(index).map(Vec::as_slice)
    }

    fn key(&self, frame: u32, kind: Kind) -> CacheKey {
        CacheKey::new(&self.blob, frame, kind)
    }

    /// The middle frame (1-based), used for thumbnails.
    pub fn middle_frame(&self) -> u32 {
        self.frame_count().div_ceil(2).max(1)
    }
}

fn within(instance: &Instance, study: &StudyUid, series: &SeriesUid) -> bool {
    instance.row.study_uid == study.as_str() && instance.row.series_uid == series.as_str()
}

fn not_found(study: &StudyUid, series: &SeriesUid, sop: &SopInstanceUid) -> FrameError {
    FrameError::NotFound(format!(
        "no instance {sop} in series {series} of study {study}"
    ))
}

pub struct FrameService {
    index: Arc<dyn Index>,
    store: BlobStore,
    /// Shared by every partition's service: one memory budget.
    cache: Arc<FrameCache>,
    metrics: Arc<Metrics>,
    /// Decoding jobs at once, for the whole process.
    cpu: Arc<Semaphore>,
    /// Instances looked up lately, this partition's own.
    locators: Arc<Locators<Instance>>,
}

impl FrameService {
    pub fn new(
        index: Arc<dyn Index>,
        store: BlobStore,
        cache_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        FrameService {
            index,
            store,
            cache: Arc::new(FrameCache::new(cache_bytes, Arc::clone(&metrics))),
            metrics,
            cpu: Arc::new(Semaphore::new(cores)),
            locators: Arc::default(),
        }
    }

    /// The service of a partition over its own index and store, sharing this one's cache,
    /// decoding slots and metrics (the cache is keyed by the blob's key in the whole store,
    /// so a frame of instance X in one partition is never served for X in another).
    pub fn for_partition(&self, index: Arc<dyn Index>, store: BlobStore) -> Self {
        FrameService {
            index,
            store,
            cache: Arc::clone(&self.cache),
            metrics: Arc::clone(&self.metrics),
            cpu: Arc::clone(&self.cpu),
            locators: Arc::default(),
        }
    }

    /// The instances this service keeps, for the delete service to clear.
    pub fn locators(&self) -> Arc<Locators<Instance>> {
        Arc::clone(&self.locators)
    }

    fn instance_of(&self, row: InstanceRow) -> Instance {
        let key = self.store.full_key(&row.blob_key);
        Instance::new(row, &key)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// One instance by its UIDs (one primary-key lookup); 404 unless it lies in that study
    /// and series. What it finds is kept for [`FrameService::kept_instance`].
    pub async fn instance(
        &self,
        study: &StudyUid,
        series: &SeriesUid,
        sop: &SopInstanceUid,
    ) -> Result<Arc<Instance>, FrameError> {
        self.locators.remove(sop.as_str());
        let found = self.index.instance(sop).await?.map(|row| {
            let instance = Arc::new(self.instance_of(row));
            self.locators.insert(sop.as_str(), Arc::clone(&instance));
            instance
        });
        found
            .filter(|i| within(i, study, series))
            .ok_or_else(|| not_found(study, series, sop))
    }

    /// The instance as [`FrameService::instance`] finds it, or as it was found lately
    /// ([`locators`]): `true` with an instance kept from before. A kept instance can be
    /// out of date after an overwrite on this node or a change on another one; a caller
    /// whose answer fails with it (a frame past its last, a blob gone) asks
    /// [`FrameService::instance`] again before answering an error.
    pub async fn kept_instance(
        &self,
        study: &StudyUid,
        series: &SeriesUid,
        sop: &SopInstanceUid,
    ) -> Result<(Arc<Instance>, bool), FrameError> {
        match self.locators.get(sop.as_str()) {
            Some(kept) if within(&kept, study, series) => Ok((kept, true)),
            _ => Ok((self.instance(study, series, sop).await?, false)),
        }
    }

    /// The image instances (with Rows and Columns) of a study or series, in series and
    /// instance number order; 404 when there are none.
    pub async fn image_instances(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
    ) -> Result<Vec<Arc<Instance>>, FrameError> {
        let images: Vec<Arc<Instance>> = self
            .index
            .instances_of(study, series, None)
            .await?
            .into_iter()
            .filter(|r| r.rows.is_some() && r.columns.is_some())
            .map(|row| Arc::new(self.instance_of(row)))
            .collect();
        if images.is_empty() {
            return Err(FrameError::NotFound(match series {
                Some(series) => format!("no image instances in series {series} of study {study}"),
                None => format!("no image instances in study {study}"),
            }));
        }
        Ok(images)
    }

    /// 404 when the instance has no pixel data or a frame number is past its last frame.
    pub fn check_frames(&self, instance: &Instance, frames: &[u32]) -> Result<(), FrameError> {
        if instance.row.frames.is_none() && instance.row.rows.is_none() {
            return Err(FrameError::NotFound(
                "the instance has no pixel data".into(),
            ));
        }
        let count = instance.frame_count();
        match frames.iter().find(|&&n| n > count) {
            Some(n) => Err(FrameError::NotFound(format!(
                "frame {n} does not exist: the instance has {count} frame(s)"
            ))),
            None => Ok(()),
        }
    }

    /// Whether [`FrameService::frames`] reads `instance`'s frames in `source` from its blob
    /// every time: as stored (or native stored as native little endian) from a local store,
    /// which keeps no copies. Frames served from the frame cache (decoded ones; any from a
    /// remote store) are keyed by the blob, and would be served for an out-of-date kept
    /// instance; a read of a blob an overwrite or a delete removed fails instead.
    pub fn reads_blob(&self, instance: &Instance, source: Source) -> bool {
        let ts = instance.row.transfer_syntax_uid.as_str();
        let stored_as_is = match source {
            Source::Stored => true,
            Source::Native => is_native(ts) && ts != tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN,
        };
        stored_as_is && instance.row.frames.is_some() && !self.store.is_remote()
    }

    /// The frames asked for, in that order, as stored or decoded to native; counted as
    /// served.
    pub async fn frames(
        &self,
        instance: &Instance,
        frames: &[u32],
        source: Source,
    ) -> Result<Vec<Bytes>, FrameError> {
        let out = match self.load(instance, frames, source).await {
            Err(FrameError::Storage(StorageError::NotFound { key })) => {
                match self.replacement(instance).await? {
                    Some(now)
                        if now.row.transfer_syntax_uid == instance.row.transfer_syntax_uid =>
                    {
                        self.load(&now, frames, source).await?
                    }
                    Some(_) => return Err(FrameError::Replaced(instance.row.sop_uid.clone())),
                    None => return Err(StorageError::NotFound { key }.into()),
                }
            }
            other => other?,
        };
        let bytes = out.iter().map(|b| b.len() as u64).sum();
        self.metrics.frames(out.len() as u64, bytes);
        Ok(out)
    }

    /// The instance as stored now when its blob was not found: an overwrite replaced it (and
    /// deleted the old blob) between the index read, or the kept location (`locators`), and
    /// the blob read. The soak run (scripts/bench/soak.py) met this race as a 404 once every
    /// few minutes before locations were kept; with them it is every overwrite's next read.
    async fn replacement(&self, instance: &Instance) -> Result<Option<Arc<Instance>>, FrameError> {
        let Ok(sop) = SopInstanceUid::parse(&instance.row.sop_uid) else {
            return Ok(None);
        };
        self.locators.remove(sop.as_str());
        let Some(now) = self.index.instance(&sop).await? else {
            return Ok(None);
        };
        let now = self.instance_of(now);
        if now.row.blob_key == instance.row.blob_key {
            return Ok(None);
        }
        let now = Arc::new(now);
        self.locators.insert(sop.as_str(), Arc::clone(&now));
        Ok(Some(now))
    }

    async fn load(
        &self,
        instance: &Instance,
        frames: &[u32],
        source: Source,
    ) -> Result<Vec<Bytes>, FrameError> {
        if instance.row.frames.is_some() {
            futures::stream::iter(frames.iter().copied())
                .map(|n| self.one_frame(instance, n, source))
                .buffered(FETCH_CONCURRENCY)
                .try_collect()
                .await
        } else {
            self.frames_from_whole(instance, frames, source).await
        }
    }

    async fn one_frame(
        &self,
        instance: &Instance,
        frame: u32,
        source: Source,
    ) -> Result<Bytes, FrameError> {
        match source {
            Source::Stored => self.stored_frame(instance, frame).await,
            Source::Native => self.native_frame(instance, frame).await,
        }
    }

    async fn stored_frame(&self, instance: &Instance, frame: u32) -> Result<Bytes, FrameError> {
        // Frames as stored are cached only from a remote store: a local file's bytes are in
        // the OS page cache already, and filling our cache with fresh memory cost more than
        // the read (cold OHIF replay: 906 frames/s cached, 2,289 not).
        if !self.store.is_remote() {
            return self.read_ranges(instance, frame, 0).await;
        }
        let key = instance.key(frame, Kind::Stored);
        if let Some(bytes) = self.cache.get_bytes(&key) {
            return Ok(bytes);
        }
        let bytes = self.read_ranges(instance, frame, 0).await?;
        self.cache.insert_bytes(key, bytes.clone());
        Ok(bytes)
    }

    async fn read_ranges(
        &self,
        instance: &Instance,
        frame: u32,
        extra: u64,
    ) -> Result<Bytes, FrameError> {
        let ranges = instance
            .ranges(frame)
            .ok_or_else(|| FrameError::NotFound(format!("frame {frame} does not exist")))?;
        let bytes = read::read_frame(&self.store, &instance.row.blob_key, ranges, extra).await?;
        let expected: u64 = ranges.iter().map(|r| r.1).sum::<u64>() + extra;
        if bytes.len() as u64 != expected {
            return Err(FrameError::Undecodable(format!(
                "frame {frame}: read {} bytes of {expected}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    async fn native_frame(&self, instance: &Instance, frame: u32) -> Result<Bytes, FrameError> {
        let ts = instance.row.transfer_syntax_uid.as_str();
        if is_native(ts) && ts != tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN {
            return self.stored_frame(instance, frame).await;
        }
        let key = instance.key(frame, Kind::Native);
        if let Some(bytes) = self.cache.get_bytes(&key) {
            return Ok(bytes);
        }
        let info = self.pixel_info(instance).await?;
        let stored = if ts == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN {
            let length = instance
                .ranges(frame)
                .map_or(0, |r| r.iter().map(|r| r.1).sum());
            match decode::read_ahead(&info, length) {
                0 => self.stored_frame(instance, frame).await?,
                extra => self.read_ranges(instance, frame, extra).await?,
            }
        } else {
            self.stored_frame(instance, frame).await?
        };
        let decode_info = Arc::clone(&info);
        let native = self
            .blocking(move || decode::to_native(&decode_info, &stored))
            .await?;
        let native = Bytes::from(native);
        self.metrics.inc(&self.metrics.frames_decoded);
        self.cache.insert_bytes(key, native.clone());
        Ok(native)
    }

    /// The pixel description, from the blob's prefix (the bytes before the first frame).
    pub async fn pixel_info(&self, instance: &Instance) -> Result<Arc<PixelInfo>, FrameError> {
        let key = instance.key(0, Kind::Info);
        if let Some(Cached::Info(info)) = self.cache.get(&key) {
            return Ok(info);
        }
        let first = instance
            .row
            .frames
            .as_ref()
            .and_then(|f| f.first())
            .and_then(|f| f.first())
            .map(|r| r.0);
        let info = match first {
            Some(offset) => {
                let prefix = self
                    .store
                    .get_range(&instance.row.blob_key, 0..offset)
                    .await?;
                let native = is_native(&instance.row.transfer_syntax_uid).then_some(offset);
                let info = self
                    .blocking(move || PixelInfo::from_prefix(&prefix, native))
                    .await?;
                Arc::new(info)
            }
            None => self.whole(instance).await?.0,
        };
        self.cache.insert(key, Cached::Info(Arc::clone(&info)));
        Ok(info)
    }

    /// Parse the whole object and keep all its frames (stored and native) in the cache.
    async fn whole(
        &self,
        instance: &Instance,
    ) -> Result<(Arc<PixelInfo>, whole::WholeFrames), FrameError> {
        let bytes = self.store.get(&instance.row.blob_key).await?;
        let split = self.blocking(move || whole::split(&bytes)).await?;
        let info = Arc::new(split.info.clone());
        self.cache
            .insert(instance.key(0, Kind::Info), Cached::Info(Arc::clone(&info)));
        for (i, frame) in split.native.iter().flatten().enumerate() {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.cache
                .insert_bytes(instance.key(n, Kind::Native), frame.clone());
        }
        for (i, frame) in split.stored.iter().flatten().enumerate() {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.cache
                .insert_bytes(instance.key(n, Kind::Stored), frame.clone());
        }
        if let (false, Ok(native)) = (is_native(&split.stored_syntax), &split.native) {
            self.metrics
                .frames_decoded
                .fetch_add(native.len() as u64, Ordering::Relaxed);
        }
        Ok((info, split))
    }

    async fn frames_from_whole(
        &self,
        instance: &Instance,
        frames: &[u32],
        source: Source,
    ) -> Result<Vec<Bytes>, FrameError> {
        let kind = match source {
            Source::Stored => Kind::Stored,
            Source::Native => Kind::Native,
        };
        let cached: Option<Vec<Bytes>> = frames
            .iter()
            .map(|&n| self.cache.get_bytes(&instance.key(n, kind)))
            .collect();
        if let Some(cached) = cached {
            return Ok(cached);
        }
        let (_, split) = self.whole(instance).await?;
        let list = match source {
            Source::Native => split
                .native
                .as_ref()
                .map_err(|e| FrameError::Undecodable(e.clone()))?,
            Source::Stored => split.stored.as_ref().ok_or_else(|| {
                FrameError::Undecodable(
                    "the stored fragments do not map onto frames; ask for the default transfer syntax to get them decoded".into(),
                )
            })?,
        };
        frames
            .iter()
            .map(|&n| {
                usize::try_from(n)
                    .ok()
                    .and_then(|n| list.get(n.checked_sub(1)?))
                    .cloned()
                    .ok_or_else(|| FrameError::NotFound(format!("frame {n} does not exist")))
            })
            .collect()
    }

    /// Render one frame (1-based).
    pub async fn render(
        &self,
        instance: &Instance,
        frame: u32,
        params: &RenderParams,
        format: ImageFormat,
    ) -> Result<Bytes, FrameError> {
        self.check_frames(instance, &[frame])?;
        let replaced;
        let (instance, info) = match self.pixel_info(instance).await {
            Err(FrameError::Storage(StorageError::NotFound { key })) => {
                replaced = self
                    .replacement(instance)
                    .await?
                    .ok_or(StorageError::NotFound { key })?;
                (&*replaced, self.pixel_info(&replaced).await?)
            }
            other => (instance, other?),
        };
        let native = self
            .load(instance, &[frame], Source::Native)
            .await?
            .pop()
            .unwrap_or_default();
        let params = params.clone();
        let image = self
            .blocking(move || render::render(&info, &native, &params, format))
            .await?;
        self.metrics.inc(&self.metrics.images_rendered);
        Ok(Bytes::from(image))
    }

    /// Run CPU work on the blocking pool, one job per core at a time.
    async fn blocking<T, F>(&self, work: F) -> Result<T, FrameError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, FrameError> + Send + 'static,
    {
        let _permit = self
            .cpu
            .acquire()
            .await
            .map_err(|e| FrameError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| FrameError::Task(e.to_string()))?
    }
}
