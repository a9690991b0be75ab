//! The one mapping from errors to HTTP answers (DICOMweb and the rest; FHIR has its own in
//! `fhir_error`). Clients get a stable code and a clear message; server-side failures are
//! logged with their detail and never leak a stack trace or a connection string.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::frames::FrameError;
use crate::index::IndexError;
use crate::query::QueryError;
use crate::retrieve::RetrieveError;
use crate::service::ServiceError;
use crate::storage::StorageError;

/// An HTTP-level failure: the one mapping from errors to status codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The caller is signed in but may not do this with what the request names (403).
    #[error("{0}")]
    Forbidden(String),
    /// What the request would create exists already (409).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    /// The client stopped sending the request body (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The request header is larger than allowed (431).
    #[error("{0}")]
    HeaderTooLarge(String),
    /// The query string is longer than allowed (414).
    #[error("{0}")]
    UriTooLong(String),
    /// A STOW request with more parts than allowed (413): refused whole, before any of its
    /// instances is recorded.
    #[error(
        "the request holds more than {limit} parts, the most one STOW request may hold; \
         none of its instances were stored: send them in several requests"
    )]
    TooManyParts { limit: usize },
    /// As many requests are in progress as allowed: shed at once (503, retry after 1 s; not
    /// logged one by one, the shed counter of /metrics counts them).
    #[error("the server is working on as many requests as it allows; retry shortly")]
    Overloaded,
    /// A Range request outside the value (the value's length goes in Content-Range).
    #[error("the requested range lies outside the {length} bytes of the value")]
    RangeNotSatisfiable { length: u64 },
    #[error("{}", storage_message(.0))]
    Storage(#[from] StorageError),
    #[error("index unavailable")]
    Index(#[from] IndexError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            ApiError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::HeaderTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "header_too_large",
            ),
            ApiError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ApiError::TooManyParts { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_parts"),
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::Storage(StorageError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::Storage(err) if err.is_full() => {
                (StatusCode::INSUFFICIENT_STORAGE, "storage_full")
            }
            ApiError::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
            ApiError::Index(IndexError::Database { .. } | IndexError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "index_unavailable")
            }
            ApiError::Index(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl From<crate::partition::PartitionError> for ApiError {
    fn from(err: crate::partition::PartitionError) -> Self {
        use crate::partition::PartitionError;
        match err {
            PartitionError::InvalidName { .. } | PartitionError::Unsupported(_) => {
                ApiError::BadRequest(err.to_string())
            }
            PartitionError::NotFound(_) => ApiError::NotFound(err.to_string()),
            PartitionError::Unavailable { .. } => {
                ApiError::Index(IndexError::Unavailable(err.to_string()))
            }
        }
    }
}

impl From<crate::jobs::JobStoreError> for ApiError {
    fn from(err: crate::jobs::JobStoreError) -> Self {
        ApiError::Index(IndexError::Unavailable(err.0))
    }
}

impl From<crate::ops::OpsError> for ApiError {
    fn from(err: crate::ops::OpsError) -> Self {
        use crate::ops::OpsError;
        match err {
            OpsError::Invalid(message) => ApiError::BadRequest(message),
            OpsError::Index(err) => ApiError::Index(err),
            OpsError::Storage(err) => ApiError::Storage(err),
            OpsError::Config(err) => ApiError::BadRequest(err.to_string()),
            OpsError::Jobs(err) => ApiError::from(err),
            OpsError::Service(err) => ApiError::from(err),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() && !matches!(self, ApiError::Overloaded) {
            tracing::error!(error = %self, detail = ?self, "request failed");
        } else {
            tracing::debug!(error = %self, "request rejected");
        }
        let body = serde_json::json!({ "error": code, "message": self.to_string() });
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if let ApiError::RangeNotSatisfiable { length } = &self {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::INSUFFICIENT_STORAGE {
            // A shed request finds room again as soon as any request ends.
            let after = if matches!(self, ApiError::Overloaded) {
                "1"
            } else {
                "5"
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(after));
        }
        response
    }
}

/// What a client is told of a store failure: whether to wait for space or for the store, never
/// the path or the backend's own words (those go to the log).
fn storage_message(err: &StorageError) -> String {
    match err {
        StorageError::NotFound { .. } => "the stored object is missing".into(),
        err if err.is_full() => {
            "the archive's storage is full (no space left on the device); retry once space is freed"
                .into()
        }
        _ => "storage unavailable; retry later".into(),
    }
}

impl ApiError {
    /// A failure to read a request body: 408 when the client stopped sending, else 400.
    pub fn body_read(err: &(dyn std::error::Error + 'static), what: &str) -> ApiError {
        match super::body_timeout::BodyTimeout::is_cause_of(err) {
            Some(timeout) => ApiError::RequestTimeout(timeout.to_string()),
            None => ApiError::BadRequest(format!("{what}: {err}")),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Storage(err) => ApiError::Storage(err),
            ServiceError::Index(err) => ApiError::Index(err),
            ServiceError::Task(message) => ApiError::Internal(message),
            ServiceError::Query(err) => ApiError::BadRequest(err.to_string()),
        }
    }
}

impl From<FrameError> for ApiError {
    fn from(err: FrameError) -> Self {
        match err {
            FrameError::NotFound(message) => ApiError::NotFound(message),
            FrameError::Replaced(_) => ApiError::NotFound(err.to_string()),
            FrameError::BadRequest(message) => ApiError::BadRequest(message),
            FrameError::Undecodable(_) => ApiError::NotAcceptable(err.to_string()),
            FrameError::Storage(err) => ApiError::Storage(err),
            FrameError::Index(err) => ApiError::Index(err),
            FrameError::Task(message) => ApiError::Internal(message),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        ApiError::BadRequest(err.to_string())
    }
}

impl From<RetrieveError> for ApiError {
    fn from(err: RetrieveError) -> Self {
        match err {
            RetrieveError::NotFound(message) => ApiError::NotFound(message),
            RetrieveError::NotAcceptable(message) => ApiError::NotAcceptable(message),
            RetrieveError::Storage(err) => ApiError::Storage(err),
            RetrieveError::Index(err) => ApiError::Index(err),
            RetrieveError::Unreadable(message) | RetrieveError::Task(message) => {
                ApiError::Internal(message)
            }
        }
    }
}
