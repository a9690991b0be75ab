//! The ingest service behind STOW-RS (PS3.18 10.5): parse and validate each instance, write
//! its blob, then record the whole request in the index in one transaction.
//!
//! Order of writes: blob first, index row second, so an index row never points at nothing.
//! A blob whose index row never came (crash, failed request, lost duplicate race) is deleted
//! at once when the request fails, and otherwise by the [`sweep`] of unreferenced blobs.

mod session;
pub mod spool;
pub mod sweep;

use std::sync::Arc;

use crate::index::DuplicatePolicy;
use crate::index::Index;
use crate::storage::BlobStore;
pub use session::IngestSession;
use tessera_dicom::limits::ParseLimits;
use tessera_dicom::status::StatusCode;
use tessera_dicom::uid::{SeriesUid, SopClassUid, SopInstanceUid, StudyUid};

/// Shared ingest settings and stores.
pub struct IngestService {
    pub store: BlobStore,
    pub index: Arc<dyn Index>,
    pub policy: DuplicatePolicy,
    pub max_instance_bytes: u64,
    /// Parts larger than this are staged in `staging` as they arrive (see [`spool`]).
    pub spool_bytes: u64,
    /// What parsing one received instance may cost (nesting of sequences).
    pub limits: ParseLimits,
    pub staging: std::path::PathBuf,
}

impl IngestService {
    /// Start one STOW request; `expected_study` comes from `/studies/{study}`.
    pub fn session(self: &Arc<Self>, expected_study: Option<StudyUid>) -> IngestSession {
        IngestSession::new(Arc::clone(self), expected_study)
    }

    /// Collect the next part; `expected` is its likely size (sizes the memory buffer).
    pub fn spool(&self, expected: u64) -> spool::PartSpool {
        spool::PartSpool::new(&self.staging, self.spool_bytes, expected)
    }
}

/// The outcome of one part of a STOW request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemReport {
    /// Recorded (or, under keep-first, already recorded: then with a warning).
    Stored {
        study: StudyUid,
        series: SeriesUid,
        sop_class: SopClassUid,
        sop_instance: SopInstanceUid,
        warning: Option<(StatusCode, String)>,
    },
    /// Refused; UIDs as far as they could be read.
    Failed {
        sop_class: Option<String>,
        sop_instance: Option<String>,
        reason: StatusCode,
        message: String,
    },
}

impl ItemReport {
    pub fn is_failure(&self) -> bool {
        matches!(self, ItemReport::Failed { .. })
    }

    pub fn has_warning(&self) -> bool {
        matches!(
            self,
            ItemReport::Stored {
                warning: Some(_),
                ..
            }
        )
    }
}
