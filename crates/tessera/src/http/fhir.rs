//! FHIR R4 handlers under `/fhir`: negotiate JSON (the only format), read the parameters,
//! let [`crate::fhir::FhirService`] answer. Errors are OperationOutcomes (`FhirError`).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::media::accept_ranges;
use super::path::query_pairs;
use super::AppState;
use crate::fhir::audit_events;
use crate::fhir::FhirError;
use crate::fhir::MEDIA_TYPE;

const JSON_TYPES: [&str; 3] = [
    "application/fhir+json",
    "application/json",
    "application/json+fhir",
];

/// JSON is all this server writes: `_format` (json or a JSON media type) overrides Accept;
/// an Accept header without a JSON type or wildcard is 406.
fn negotiate(headers: &HeaderMap, pairs: &[(String, String)]) -> Result<(), FhirError> {
    if let Some((_, format)) = pairs.iter().find(|(name, _)| name == "_format") {
        let essence = format.split(';').next().unwrap_or_default().trim();
        let essence = essence.to_ascii_lowercase();
        return if essence == "json" || JSON_TYPES.contains(&essence.as_str()) {
            Ok(())
        } else {
            Err(FhirError::NotAcceptable(format!(
                "_format={format}: this server answers only JSON (application/fhir+json)"
            )))
        };
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if accept.trim().is_empty() {
        return Ok(());
    }
    let ok = accept_ranges(accept).iter().any(|range| {
        JSON_TYPES.contains(&range.essence.as_str())
            || matches!(range.essence.as_str(), "*/*" | "application/*")
    });
    if ok {
        Ok(())
    } else {
        Err(FhirError::NotAcceptable(format!(
            "Accept: {accept}: this server answers only JSON (application/fhir+json)"
        )))
    }
}

/// `Prefer: handling=lenient` ignores unknown search parameters; strict is the default.
fn strict(headers: &HeaderMap) -> bool {
    !headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"))
}

fn respond(resource: Value, pairs: &[(String, String)]) -> Response {
    let pretty = pairs
        .iter()
        .any(|(name, value)| name == "_pretty" && value == "true");
    let body = if pretty {
        serde_json::to_string_pretty(&resource)
    } else {
        serde_json::to_string(&resource)
    }
    .unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, MEDIA_TYPE)], body).into_response()
}

/// The query pairs of a FHIR request whose Accept and `_format` allow JSON: every FHIR
/// handler takes one, so none can skip negotiation.
pub(super) struct Negotiated(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, FhirError> {
        let pairs = query_pairs(parts.uri.query());
        negotiate(&parts.headers, &pairs)?;
        Ok(Negotiated(pairs))
    }
}

pub(super) async fn metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
    Negotiated(pairs): Negotiated,
) -> Result<Response, FhirError> {
    let base = state.base_url(&headers);
    Ok(respond(state.fhir.capability_statement(&base), &pairs))
}

pub(super) async fn read_imaging_study(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Negotiated(pairs): Negotiated,
) -> Result<Response, FhirError> {
    let elements = pairs
        .iter()
        .find(|(name, _)| name == "_elements")
        .map(|(_, value)| value.as_str());
    let resource = state.fhir.imaging_study(&id, elements).await?;
    Ok(respond(resource, &pairs))
}

pub(super) async fn read_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Negotiated(pairs): Negotiated,
) -> Result<Response, FhirError> {
    let base = state.base_url(&headers);
    Ok(respond(state.fhir.endpoint(&id, &base)?, &pairs))
}

pub(super) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Negotiated(pairs): Negotiated,
) -> Result<Response, FhirError> {
    let base = state.base_url(&headers);
    let bundle = state.fhir.search(&pairs, &base, strict(&headers)).await?;
    Ok(respond(bundle, &pairs))
}

pub(super) async fn search_audit_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Negotiated(pairs): Negotiated,
) -> Result<Response, FhirError> {
    let base = state.base_url(&headers);
    let log = state.audit_log.as_ref();
    let bundle = audit_events::search(log, &pairs, &base, &state.audit_source_id).await?;
    Ok(respond(bundle, &pairs))
}

pub(super) async fn read_audit_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Negotiated(pairs): Negotiated,
) -> Result<Response, FhirError> {
    let log = state.audit_log.as_ref();
    let resource = audit_events::read(log, &id, &state.audit_source_id).await?;
    Ok(respond(resource, &pairs))
}
