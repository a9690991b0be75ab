//! Direct import: a batch of files through the ingest path of STOW-RS and C-STORE, as one
//! ingest session (one index transaction, one fsync of the folders written), after skipping
//! the instances the index already has (so a re-run writes nothing twice).

use std::sync::Arc;

use super::load::{Data, Item};
use super::report::{FileResult, Status};
use crate::index::Index;
use crate::ingest::spool::Received;
use crate::ingest::{IngestService, ItemReport};
use crate::service::ServiceError;
use tessera_dicom::status::StatusCode;
use tessera_dicom::uid::SopInstanceUid;

/// Stores batches into the archive the settings name.
pub struct Direct {
    service: Arc<IngestService>,
    index: Arc<dyn Index>,
}

/// A batch's results, and the error of the store or index when the batch could not be
/// stored at all (its files are then reported failed, A700).
pub struct Stored {
    pub results: Vec<FileResult>,
    pub error: Option<ServiceError>,
}

impl Direct {
    pub fn new(service: Arc<IngestService>, index: Arc<dyn Index>) -> Direct {
        Direct { service, index }
    }

    pub async fn store(&self, items: Vec<Item>) -> Stored {
        let mut results = Vec::with_capacity(items.len());
        let mut fresh = Vec::with_capacity(items.len());
        for item in items {
            match self.stored_already(&item).await {
                Ok(Some(study)) => results.push(
                    item.result(Status::AlreadyStored)
                        .uids(None, Some(study))
                        .message("already stored (not read again)"),
                ),
                Ok(None) => fresh.push(item),
                Err(err) => {
                    fresh.push(item);
                    return self.failed(results, fresh, err);
                }
            }
        }
        if fresh.is_empty() {
            return Stored {
                results,
                error: None,
            };
        }
        let mut session = self.service.session(None);
        let mut added = Vec::with_capacity(fresh.len());
        let mut items = fresh.into_iter();
        while let Some(mut item) = items.next() {
            let received = match std::mem::replace(&mut item.data, Data::Memory(Default::default()))
            {
                Data::Memory(bytes) => Received::Memory(bytes),
                Data::Staged(staged) => Received::Staged(staged),
                Data::File { .. } => {
                    // Never made in direct mode (large files are staged); refused if it were.
                    session.reject_part(
                        StatusCode::PROCESSING_FAILURE,
                        "a file to stream in direct mode".into(),
                    );
                    added.push(item);
                    continue;
                }
            };
            if let Err(err) = session.add(received).await {
                session.abort().await;
                added.push(item);
                added.extend(items);
                return self.failed(results, added, err);
            }
            added.push(item);
        }
        match session.finish().await {
            Ok(reports) => {
                for (item, report) in added.iter().zip(reports) {
                    results.push(result_of(item, report));
                }
                Stored {
                    results,
                    error: None,
                }
            }
            Err(err) => self.failed(results, added, err),
        }
    }

    /// The study of the stored instance with this item's SOP Instance UID, if there is one.
    async fn stored_already(&self, item: &Item) -> Result<Option<String>, ServiceError> {
        let Some(uid) = item
            .sop
            .as_deref()
            .filter(|_| item.walked)
            .and_then(|u| SopInstanceUid::parse(u).ok())
        else {
            return Ok(None);
        };
        Ok(self.index.instance(&uid).await?.map(|row| row.study_uid))
    }

    fn failed(&self, mut results: Vec<FileResult>, items: Vec<Item>, err: ServiceError) -> Stored {
        let why = format!("the archive could not store it: {err}");
        for item in &items {
            results.push(
                item.result(Status::Failed)
                    .reason(StatusCode::OUT_OF_RESOURCES.0)
                    .message(why.clone()),
            );
        }
        Stored {
            results,
            error: Some(err),
        }
    }
}

/// The ingest's answer for one file as a report line. A duplicate the policy refused (0111)
/// or kept the stored copy of (B000) was already there.
fn result_of(item: &Item, report: ItemReport) -> FileResult {
    let wrapped = |result: FileResult| {
        if item.wrapped {
            result.message(
                "a data set without file meta information: stored with file meta information added",
            )
        } else {
            result
        }
    };
    match report {
        ItemReport::Stored {
            study,
            sop_instance,
            warning: None,
            ..
        } => wrapped(
            item.result(Status::Stored)
                .uids(Some(sop_instance.to_string()), Some(study.to_string())),
        ),
        ItemReport::Stored {
            study,
            sop_instance,
            warning: Some((code, message)),
            ..
        } => item
            .result(Status::AlreadyStored)
            .uids(Some(sop_instance.to_string()), Some(study.to_string()))
            .reason(code.0)
            .message(message),
        ItemReport::Failed {
            sop_instance,
            reason,
            message,
            ..
        } => {
            let status = if reason == StatusCode::DUPLICATE_SOP_INSTANCE {
                Status::AlreadyStored
            } else {
                Status::Failed
            };
            item.result(status)
                .uids(sop_instance.filter(|s| !s.is_empty()), None)
                .reason(reason.0)
                .message(message)
        }
    }
}
