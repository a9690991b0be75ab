//! Why a caller was not let in.

use super::Role;

/// Authentication or authorization failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials: 401 without an error code (RFC 6750 3.1).
    #[error("authentication required: send Authorization: Bearer with a token or an API key")]
    Missing,
    /// Credentials that are not valid: 401 `invalid_token` with this description.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Valid credentials without the role the route needs: 403.
    #[error("the {0} role is required")]
    MissingRole(Role),
    /// Valid credentials limited to partitions that do not include the one the request
    /// names: 403.
    #[error("this credential may not use partition {partition:?} (it is limited to {allowed})")]
    OutsidePartitions { partition: String, allowed: String },
    /// Valid credentials limited to partitions, on a route about the whole archive: 403.
    #[error("this credential is limited to {allowed}; this route is about the whole archive")]
    ArchiveWide { allowed: String },
    /// The token could not be checked because the issuer's keys could not be fetched, or the
    /// key store failed: 503.
    #[error("cannot check credentials now: {0}")]
    Unavailable(String),
}

impl AuthError {
    pub fn invalid(description: impl Into<String>) -> AuthError {
        AuthError::InvalidToken(description.into())
    }
}
