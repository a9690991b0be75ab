//! The error of the DIMSE layer: what ends an association (or an outgoing one) early.

use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum DimseError {
    /// The peer sent something that is not DICOM (a bad PDU, a bad command set).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The upper layer failed (the socket closed, a PDU could not be read or written).
    #[error("upper layer: {0}")]
    UpperLayer(#[from] dicom_ul::association::Error),
    /// The peer stayed silent (or did not read) for longer than allowed.
    #[error("the peer was silent for more than {0} s")]
    Timeout(u64),
    /// The archive's stores failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A data set could not be read or written.
    #[error("data set: {0}")]
    DataSet(String),
    /// An association Tessera opened (C-MOVE, storage commitment) failed.
    #[error("peer {peer}: {reason}")]
    Peer { peer: String, reason: String },
}
