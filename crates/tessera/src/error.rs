//! One error type per layer, and the single place where errors become HTTP answers.
//!
//! Clients get a stable code and a clear message; server-side failures are logged with
//! their detail and never leak a stack trace or a connection string.

use std::path::{Path, PathBuf};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Settings could not be read or make no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid {name} {value:?}: expected {expected}")]
    InvalidValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported storage URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("blob {key} not found")]
    NotFound { key: String },
    #[error("blob store failed to {operation} {key}: {source}")]
    Backend {
        operation: &'static str,
        key: String,
        source: object_store::Error,
    },
    #[error("local file system failed to {operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StorageError {
    /// Turns an I/O error of `operation` on `path` into a [`StorageError::Io`] (for `map_err`).
    pub fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            operation,
            path,
            source,
        }
    }
}

/// The index (SQLite or PostgreSQL) failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("unsupported database URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("index database failed during {operation}: {source}")]
    Database {
        operation: &'static str,
        source: sqlx::Error,
    },
    #[error("index migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("index row is inconsistent: {0}")]
    Corrupt(String),
    #[error("index unavailable: {0}")]
    Unavailable(String),
}

impl IndexError {
    pub fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> IndexError {
        move |source| IndexError::Database { operation, source }
    }
}

/// Starting the application failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot start the FHIR push: {0}")]
    FhirPush(String),
}

/// An HTTP-level failure: the one mapping from errors to status codes.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    /// A Range request outside the value (the value's length goes in Content-Range).
    #[error("the requested range lies outside the {length} bytes of the value")]
    RangeNotSatisfiable { length: u64 },
    #[error("storage unavailable")]
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
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable"),
            ApiError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            ApiError::Storage(StorageError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "not_found")
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
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
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// A service (ingest, sweep) could not reach its stores.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("background task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Query(#[from] QueryError),
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

/// WADO-RS frames, rendered images and thumbnails (`frames` service).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Unknown instance, a frame number past the last, no pixel data.
    #[error("{0}")]
    NotFound(String),
    /// A malformed frame list or rendering parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The stored pixel data cannot be turned into what was asked (no codec for its
    /// transfer syntax, a photometric interpretation rendering does not handle, data the
    /// codec refuses). The client may still get the frames as stored.
    #[error("cannot decode the stored pixel data: {0}")]
    Undecodable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("background task failed: {0}")]
    Task(String),
}

impl From<FrameError> for ApiError {
    fn from(err: FrameError) -> Self {
        match err {
            FrameError::NotFound(message) => ApiError::NotFound(message),
            FrameError::BadRequest(message) => ApiError::BadRequest(message),
            FrameError::Undecodable(_) => ApiError::NotAcceptable(err.to_string()),
            FrameError::Storage(err) => ApiError::Storage(err),
            FrameError::Index(err) => ApiError::Index(err),
            FrameError::Task(message) => ApiError::Internal(message),
        }
    }
}

/// A QIDO-RS query that cannot be answered as asked; the message names the parameter.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct QueryError {
    pub parameter: String,
    pub reason: String,
}

impl QueryError {
    pub fn new(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        QueryError {
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        ApiError::BadRequest(err.to_string())
    }
}

/// WADO-RS retrieve, metadata or bulk data could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum RetrieveError {
    /// No such study, series, instance or bulk data path.
    #[error("{0}")]
    NotFound(String),
    /// The representation asked for cannot be produced (PS3.18 8.7.3: 406).
    #[error("{0}")]
    NotAcceptable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A stored object could not be read back although ingest accepted it: a bug or damage.
    #[error("stored object unreadable: {0}")]
    Unreadable(String),
    #[error("background task failed: {0}")]
    Task(String),
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
}

impl FhirError {
    fn status_and_issue(&self) -> (StatusCode, &'static str) {
        match self {
            FhirError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            FhirError::Gone(_) => (StatusCode::GONE, "deleted"),
            FhirError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
            FhirError::NotSupported(_) => (StatusCode::BAD_REQUEST, "not-supported"),
            FhirError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not-supported"),
            FhirError::TooCostly(_) => (StatusCode::BAD_REQUEST, "too-costly"),
            FhirError::Index(IndexError::Database { .. } | IndexError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "transient")
            }
            FhirError::Index(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        }
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (status, issue) = self.status_and_issue();
        if status.is_server_error() {
            tracing::error!(error = %self, detail = ?self, "FHIR request failed");
        } else {
            tracing::debug!(error = %self, "FHIR request rejected");
        }
        let body = crate::fhir::outcome::error(issue, &self.to_string());
        let mut response = (
            status,
            [(header::CONTENT_TYPE, crate::fhir::MEDIA_TYPE)],
            body.to_string(),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
