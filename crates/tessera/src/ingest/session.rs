//! One STOW request in progress: parts come in one at a time, blobs are written in the
//! background (a few at once, so memory stays a small multiple of one instance), and
//! [`IngestSession::finish`] makes them durable and records them in one index transaction.

use std::path::Path;
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::spool::Received;
use super::{IngestService, ItemReport};
use crate::index::{NewInstance, StoreOutcome};
use crate::service::ServiceError;
use crate::storage::StorageError;
use crate::storage::{BlobKey, PendingSync};
use tessera_dicom::error::DicomError;
use tessera_dicom::extract::{self, ExtractedInstance};
use tessera_dicom::limits::ParseLimits;
use tessera_dicom::status::StatusCode;
use tessera_dicom::uid::StudyUid;

/// Blob writes allowed in flight per request.
const WRITES_IN_FLIGHT: usize = 4;

enum Slot {
    Pending(usize),
    Done(ItemReport),
}

pub struct IngestSession {
    service: Arc<IngestService>,
    expected_study: Option<StudyUid>,
    /// The SOP Class and Instance UIDs a DIMSE C-STORE command announced.
    expected_instance: Option<(String, String)>,
    slots: Vec<Slot>,
    pending: Vec<NewInstance>,
    written: Vec<BlobKey>,
    writes: FuturesUnordered<JoinHandle<Result<PendingSync, StorageError>>>,
    synced: Vec<PendingSync>,
}

impl IngestSession {
    pub(super) fn new(service: Arc<IngestService>, expected_study: Option<StudyUid>) -> Self {
        IngestSession {
            service,
            expected_study,
            expected_instance: None,
            slots: Vec::new(),
            pending: Vec::new(),
            written: Vec::new(),
            writes: FuturesUnordered::new(),
            synced: Vec::new(),
        }
    }

    /// Refuse (A900) an instance whose SOP Class or Instance UID is not these: a C-STORE
    /// command names them before its data set comes.
    pub fn expect_instance(&mut self, sop_class: &str, sop_instance: &str) {
        self.expected_instance = Some((sop_class.to_string(), sop_instance.to_string()));
    }

    /// Number of parts seen so far.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Record a part that failed before it could be parsed (e.g. wrong part media type).
    pub fn reject_part(&mut self, reason: StatusCode, message: String) {
        self.slots.push(Slot::Done(ItemReport::Failed {
            sop_class: None,
            sop_instance: None,
            reason,
            message,
        }));
    }

    /// Parse, validate and start writing one instance. An error here is a store failure
    /// (the whole request must be aborted); a bad instance is recorded as a failed item.
    pub async fn add(&mut self, received: Received) -> Result<(), ServiceError> {
        let limits = self.service.limits;
        let parsed = match &received {
            Received::Memory(bytes) => {
                let bytes = bytes.clone();
                tokio::task::spawn_blocking(move || Ok(parse_and_hash(&bytes, &limits))).await
            }
            Received::Staged(staged) => {
                let path = staged.path().to_path_buf();
                tokio::task::spawn_blocking(move || parse_staged(&path, &limits)).await
            }
        }
        .map_err(|err| ServiceError::Task(err.to_string()))??;
        let (extracted, sha256) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                self.slots.push(Slot::Done(failure(None, err)));
                return Ok(());
            }
        };
        if let Some(expected) = &self.expected_study {
            if expected != &extracted.study_uid {
                let err = DicomError::Inconsistent(format!(
                    "StudyInstanceUID {} does not match the study {} in the request URL",
                    extracted.study_uid, expected
                ));
                self.slots.push(Slot::Done(failure(Some(&extracted), err)));
                return Ok(());
            }
        }
        if let Some((class, instance)) = &self.expected_instance {
            if extracted.sop_class.as_str() != class || extracted.sop_uid.as_str() != instance {
                let err = DicomError::Inconsistent(format!(
                    "the data set's SOP Class/Instance UIDs {}/{} are not the command's {class}/{instance}",
                    extracted.sop_class, extracted.sop_uid
                ));
                self.slots.push(Slot::Done(failure(Some(&extracted), err)));
                return Ok(());
            }
        }
        let key = BlobKey::new_instance(
            &extracted.study_uid,
            &extracted.series_uid,
            &extracted.sop_uid,
        );
        self.slots.push(Slot::Pending(self.pending.len()));
        self.pending.push(NewInstance {
            extracted,
            blob_key: key.clone(),
            blob_size: received.len(),
            blob_sha256: Some(sha256),
        });
        while self.writes.len() >= WRITES_IN_FLIGHT {
            self.next_write().await?;
        }
        self.written.push(key.clone());
        let store = self.service.store.clone();
        self.writes.push(tokio::spawn(async move {
            match received {
                Received::Memory(bytes) => store.put(&key, bytes).await,
                Received::Staged(staged) => store.put_staged(&key, staged).await,
            }
        }));
        Ok(())
    }

    async fn next_write(&mut self) -> Result<(), ServiceError> {
        if let Some(joined) = self.writes.next().await {
            let pending = joined.map_err(|err| ServiceError::Task(err.to_string()))??;
            self.synced.push(pending);
        }
        Ok(())
    }

    /// Make the blobs durable, record them, and report every part in order.
    /// On error everything this request wrote is deleted again.
    pub async fn finish(self) -> Result<Vec<ItemReport>, ServiceError> {
        match self.try_finish().await {
            Ok(reports) => Ok(reports),
            Err((err, session)) => {
                session.abort().await;
                Err(err)
            }
        }
    }

    /// [`IngestSession::finish`], but on error the session comes back with the error, so
    /// that the caller can [`IngestSession::fail`] it with words fit for its client.
    pub async fn try_finish(mut self) -> Result<Vec<ItemReport>, (ServiceError, IngestSession)> {
        match self.commit().await {
            Ok(reports) => Ok(reports),
            Err(err) => Err((err, self)),
        }
    }

    /// Drop everything this request wrote and report every part as failed: those that
    /// failed on their own keep their reason, the others fail with A700 and `message`.
    pub async fn fail(mut self, message: &str) -> Vec<ItemReport> {
        let slots = std::mem::take(&mut self.slots);
        let pending = std::mem::take(&mut self.pending);
        self.abort().await;
        slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Done(report) => report,
                Slot::Pending(i) => ItemReport::Failed {
                    sop_class: Some(pending[i].extracted.sop_class.to_string()),
                    sop_instance: Some(pending[i].extracted.sop_uid.to_string()),
                    reason: StatusCode::OUT_OF_RESOURCES,
                    message: message.to_string(),
                },
            })
            .collect()
    }

    async fn commit(&mut self) -> Result<Vec<ItemReport>, ServiceError> {
        while !self.writes.is_empty() {
            self.next_write().await?;
        }
        self.service.store.make_durable(&self.synced).await?;
        let outcomes = match self
            .service
            .index
            .store(self.pending.clone(), self.service.policy)
            .await
        {
            Ok(outcomes) => outcomes,
            Err(err) => {
                // The commit may have happened with its answer lost on the way back (the
                // database's connection cut mid-commit): rows may point at these blobs, so
                // they stay. The orphan sweeper removes those that no row references.
                self.written.clear();
                return Err(err.into());
            }
        };
        let batch = std::mem::take(&mut self.pending);
        // From here on the index is committed: only clean-up remains.
        let mut unreferenced = Vec::new();
        for (item, outcome) in batch.iter().zip(&outcomes) {
            match outcome {
                StoreOutcome::Replaced { old_blob } => unreferenced.push(old_blob.clone()),
                outcome if !outcome.keeps_new_blob() => unreferenced.push(item.blob_key.clone()),
                _ => {}
            }
        }
        self.written.clear();
        for key in unreferenced {
            if let Err(err) = self.service.store.delete(&key).await {
                tracing::warn!(%err, "could not delete an unreferenced blob; the sweeper will");
            }
        }
        let slots = std::mem::take(&mut self.slots);
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Done(report) => report,
                Slot::Pending(i) => report(&batch[i].extracted, &outcomes[i]),
            })
            .collect())
    }

    /// Drop everything this request wrote (malformed request, store failure).
    pub async fn abort(mut self) {
        while let Some(joined) = self.writes.next().await {
            if let Ok(Err(err)) = joined {
                tracing::debug!(%err, "blob write failed during abort");
            }
        }
        for key in std::mem::take(&mut self.written) {
            if let Err(err) = self.service.store.delete(&key).await {
                tracing::warn!(%err, "could not delete a blob of an aborted request; the sweeper will");
            }
        }
    }
}

/// Parse a staging file through a read-only memory map: the parser reads the header up to
/// Pixel Data and the layout walk the element headers after it; the hash then reads the rest
/// once, sequentially, from the page cache the upload just filled.
fn parse_staged(path: &Path, limits: &ParseLimits) -> Result<Parsed, ServiceError> {
    let file = std::fs::File::open(path).map_err(StorageError::io("read", path))?;
    // SAFETY: the staging file is private to this request (a random name in the staging
    // folder, written and closed before this); nothing truncates or writes it while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(StorageError::io("map", path))?;
    Ok(parse_and_hash(&map, limits))
}

/// An instance's extracted values and its SHA-256, or why it cannot be parsed.
type Parsed = Result<(ExtractedInstance, String), DicomError>;

/// Parse an instance and, when it parses, hash its bytes (the hash `tessera check
/// --verify` compares the stored blob with).
fn parse_and_hash(bytes: &[u8], limits: &ParseLimits) -> Parsed {
    let extracted = extract::parse_with(bytes, limits).and_then(|file| file.extract())?;
    Ok((extracted, crate::digest::sha256_hex(bytes)))
}

fn failure(extracted: Option<&ExtractedInstance>, err: DicomError) -> ItemReport {
    ItemReport::Failed {
        sop_class: extracted.map(|e| e.sop_class.to_string()),
        sop_instance: extracted.map(|e| e.sop_uid.to_string()),
        reason: err.failure_reason(),
        message: err.to_string(),
    }
}

fn report(extracted: &ExtractedInstance, outcome: &StoreOutcome) -> ItemReport {
    let stored = |warning| ItemReport::Stored {
        study: extracted.study_uid.clone(),
        series: extracted.series_uid.clone(),
        sop_class: extracted.sop_class.clone(),
        sop_instance: extracted.sop_uid.clone(),
        warning,
    };
    let failed = |reason, message: String| ItemReport::Failed {
        sop_class: Some(extracted.sop_class.to_string()),
        sop_instance: Some(extracted.sop_uid.to_string()),
        reason,
        message,
    };
    match outcome {
        StoreOutcome::Stored | StoreOutcome::Replaced { .. } => stored(None),
        StoreOutcome::DuplicateKept => stored(Some((
            StatusCode::COERCION_OF_DATA_ELEMENTS,
            "an instance with this SOP Instance UID is already stored; it was kept and this copy discarded".into(),
        ))),
        StoreOutcome::DuplicateRejected => failed(
            StatusCode::DUPLICATE_SOP_INSTANCE,
            "an instance with this SOP Instance UID is already stored".into(),
        ),
        StoreOutcome::SeriesInOtherStudy { existing_study } => failed(
            StatusCode::DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            format!(
                "SeriesInstanceUID {} already belongs to study {existing_study}",
                extracted.series_uid
            ),
        ),
    }
}
