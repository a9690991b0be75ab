//! Why a push to the FHIR server did not go through.

/// Sending a study to the FHIR server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// Worth trying again later: the server is down, overloaded or failed (5xx, 429, 408),
    /// or Tessera's own index did not answer.
    #[error("{reason} (will retry)")]
    Retry {
        reason: String,
        after: Option<std::time::Duration>,
    },
    /// The server refused the request for good (4xx).
    #[error("{reason}")]
    Rejected { status: u16, reason: String },
}
