//! FHIR errors as HTTP answers: an OperationOutcome with the status and issue code of each.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::fhir::FhirError;
use crate::index::IndexError;

/// The HTTP status and OperationOutcome issue code of a FHIR error.
fn status_and_issue(error: &FhirError) -> (StatusCode, &'static str) {
    match error {
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
        FhirError::AuditTrail(_) => (StatusCode::SERVICE_UNAVAILABLE, "transient"),
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (status, issue) = status_and_issue(&self);
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
