//! Why a DICOM object cannot be accepted, with the STOW FailureReason (PS3.18 I.2.2.1,
//! PS3.4 Annex B status codes) each case is reported with.

/// A DICOM object could not be accepted; each variant knows its STOW FailureReason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DicomError {
    #[error("not a DICOM Part 10 file (no DICM prefix and file meta information)")]
    NotPart10,
    #[error("the file is truncated or malformed at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    #[error("cannot parse the data set: {0}")]
    Unreadable(String),
    #[error("transfer syntax {0} is not supported")]
    UnsupportedTransferSyntax(String),
    #[error("required attribute {0} is missing")]
    MissingAttribute(&'static str),
    #[error(transparent)]
    InvalidUid(#[from] crate::uid::UidError),
    #[error("{0}")]
    Inconsistent(String),
}

impl DicomError {
    /// The FailureReason (0008,1197) this failure is reported with.
    pub fn failure_reason(&self) -> crate::status::StatusCode {
        use crate::status::StatusCode as S;
        match self {
            DicomError::NotPart10 | DicomError::Malformed { .. } | DicomError::Unreadable(_) => {
                S::CANNOT_UNDERSTAND
            }
            DicomError::UnsupportedTransferSyntax(_) => S::TRANSFER_SYNTAX_NOT_SUPPORTED,
            DicomError::MissingAttribute(_)
            | DicomError::InvalidUid(_)
            | DicomError::Inconsistent(_) => S::DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
        }
    }
}
