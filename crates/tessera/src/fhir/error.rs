//! Why a FHIR request cannot be answered; the HTTP front end answers each as an
//! OperationOutcome (crate::http::fhir_error).

use crate::index::IndexError;

/// A FHIR request (`/fhir/...`) that cannot be answered; answered as an OperationOutcome.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// No such resource (404, issue code `not-found`).
    #[error("{0}")]
    NotFound(String),
    /// The resource was deleted (410, `deleted`).
    #[error("{0}")]
    Gone(String),
    /// A malformed parameter value or id (400, `invalid`).
    #[error("{0}")]
    BadRequest(String),
    /// A parameter, modifier or prefix this server does not support (400, `not-supported`).
    #[error("{0}")]
    NotSupported(String),
    /// Only JSON is spoken (406, `not-supported`).
    #[error("{0}")]
    NotAcceptable(String),
    /// A search whose checks would need too many candidates (400, `too-costly`).
    #[error("{0}")]
    TooCostly(String),
    #[error("index unavailable")]
    Index(#[from] IndexError),
    /// The audit trail could not be read (503, `transient`).
    #[error("audit trail unavailable")]
    AuditTrail(#[from] crate::audit::AuditLogError),
}
