//! WADO-RS handlers (PS3.18 10.4): retrieve a study, series or instance as
//! `multipart/related; type="application/dicom"` (10.4.1.1.1) and their metadata as DICOM
//! JSON or XML (10.4.1.1.2). Handlers negotiate (PS3.18 8.7.3) and frame; the retrieve
//! service decides what can be produced.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};

use super::accept::{wanted_from, Wanted};
use super::multipart_out::{self, OutPart};
use super::path::{accept_parameter, instance_uids, query_pairs, series_uid, study_uid};
use super::AppState;
use crate::http::error::ApiError;
use crate::retrieve::instances::PartPlan;
use crate::retrieve::metadata::{MetadataAnswer, MetadataFormat};
use crate::retrieve::transcode::Target;
use crate::retrieve::Scope;

/// The `accept` query parameter (PS3.18 8.3.3.1), which overrides the Accept header.
pub(super) fn query_accept(raw: &Option<String>) -> Option<String> {
    accept_parameter(&query_pairs(raw.as_deref())).map(str::to_string)
}

pub(super) fn instance_scope(study: &str, series: &str, sop: &str) -> Result<Scope, ApiError> {
    let (study, series, sop) = instance_uids(study, series, sop)?;
    Ok(Scope::instance(study, series, sop))
}

fn accept_text(headers: &HeaderMap, raw: &Option<String>) -> String {
    query_accept(raw)
        .or_else(|| {
            headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "*/*".into())
}

/// Single part or multipart/related.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    Single,
    Multipart,
}

/// The acceptable transfer syntaxes for `payload` (in preference order) and the form of the
/// answer, chosen by the most preferred range; a single part only where one payload fits.
pub(super) fn targets_for(
    wanted: &[Wanted],
    payload: &str,
    single_allowed: bool,
) -> Option<(Form, Vec<Target>)> {
    let mut form = None;
    let mut targets = Vec::new();
    for range in wanted.iter().filter(|w| w.accepts(payload)) {
        let this = match range.multipart {
            Some(false) if single_allowed => Form::Single,
            Some(false) => continue,
            _ => Form::Multipart,
        };
        if *form.get_or_insert(this) == this {
            targets.push(Target::from_parameter(range.transfer_syntax.as_deref()));
        }
    }
    form.map(|form| (form, targets))
}

fn part_type(plan: &PartPlan) -> String {
    format!(
        "application/dicom; transfer-syntax={}",
        plan.decision.transfer_syntax
    )
}

async fn retrieve(
    state: AppState,
    scope: Scope,
    headers: HeaderMap,
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let wanted = wanted_from(&headers, query_accept(&raw).as_deref());
    let (form, targets) = targets_for(&wanted, "application/dicom", scope.is_instance())
        .ok_or_else(|| {
            ApiError::NotAcceptable(format!(
                "{} is answered as multipart/related; type=\"application/dicom\" (a single \
                 application/dicom for one instance), optionally with transfer-syntax; \
                 Accept asked for {}",
                scope.path(),
                accept_text(&headers, &raw)
            ))
        })?;
    let service = state.retrieve.clone();
    let mut plans = service.plan_retrieve(&scope, &targets).await?.into_iter();
    let Some(first) = plans.next() else {
        return Err(ApiError::NotFound(scope.path()));
    };
    // The first part is produced before the status line, so its failure is a clean error.
    let first_body = service.part_body(&first).await?;
    let mut response = match form {
        Form::Single => {
            let length = first_body.len();
            let mut response =
                Body::from_stream(multipart_out::body_stream(first_body)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, header_value(&part_type(&first))?);
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            response
        }
        Form::Multipart => {
            let boundary = multipart_out::new_boundary();
            let first = Ok(OutPart {
                content_type: part_type(&first),
                body: first_body,
            });
            // The next parts are opened (and their first chunk read) while the current one
            // is being written: the socket never waits for a file open.
            let rest = stream::iter(plans)
                .map(move |plan| {
                    let service = service.clone();
                    async move {
                        let body = service.part_body(&plan).await?;
                        Ok(OutPart {
                            content_type: part_type(&plan),
                            body,
                        })
                    }
                })
                .buffered(PARTS_AHEAD);
            let parts = stream::once(async move { first }).chain(rest).boxed();
            let mut response = multipart_out::body(boundary.clone(), parts).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header_value(&multipart_out::content_type("application/dicom", &boundary))?,
            );
            response
        }
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(response)
}

/// Parts of a retrieve prepared ahead of the one being written.
const PARTS_AHEAD: usize = 2;

pub(super) fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|err| ApiError::Internal(format!("header {text:?}: {err}")))
}

pub async fn retrieve_study(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = Scope::study(study_uid(&study)?);
    retrieve(state, scope, headers, raw).await
}

pub async fn retrieve_series(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = Scope::series(study_uid(&study)?, series_uid(&series)?);
    retrieve(state, scope, headers, raw).await
}

pub async fn retrieve_instance(
    State(state): State<AppState>,
    Path((study, series, sop)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = instance_scope(&study, &series, &sop)?;
    retrieve(state, scope, headers, raw).await
}

/// JSON unless XML is preferred; `application/json` is answered as such (same body).
fn metadata_format(wanted: &[Wanted]) -> Option<(MetadataFormat, &'static str)> {
    for range in wanted {
        match range.media.as_str() {
            "application/dicom+xml" => return Some((MetadataFormat::Xml, "")),
            "application/json" => return Some((MetadataFormat::Json, "application/json")),
            "application/dicom+json" | "*/*" | "application/*" => {
                return Some((MetadataFormat::Json, "application/dicom+json"))
            }
            _ => {}
        }
    }
    None
}

/// Whether If-None-Match names `etag` (weak comparison, RFC 9110 13.1.2).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

async fn metadata(
    state: AppState,
    scope: Scope,
    headers: HeaderMap,
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let wanted = wanted_from(&headers, query_accept(&raw).as_deref());
    let (format, json_type) = metadata_format(&wanted).ok_or_else(|| {
        ApiError::NotAcceptable(format!(
            "metadata is answered as application/dicom+json or multipart/related; \
             type=\"application/dicom+xml\"; Accept asked for {}",
            accept_text(&headers, &raw)
        ))
    })?;
    let root = state.dicomweb_root(&headers);
    let answer = state
        .retrieve
        .metadata(&scope, format, &root, |etag| if_none_match(&headers, etag))
        .await?;
    let document = match answer {
        MetadataAnswer::NotModified { etag } => {
            return Ok((
                StatusCode::NOT_MODIFIED,
                [(header::ETAG, header_value(&etag)?)],
            )
                .into_response())
        }
        MetadataAnswer::Document(document) => document,
    };
    let content_type = match &document.boundary {
        Some(boundary) => multipart_out::content_type("application/dicom+xml", boundary),
        None => json_type.to_string(),
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, header_value(&content_type)?),
            (header::ETAG, header_value(&document.etag)?),
            (header::VARY, HeaderValue::from_static("Accept")),
        ],
        document.body,
    )
        .into_response())
}

pub async fn study_metadata(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = Scope::study(study_uid(&study)?);
    metadata(state, scope, headers, raw).await
}

pub async fn series_metadata(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = Scope::series(study_uid(&study)?, series_uid(&series)?);
    metadata(state, scope, headers, raw).await
}

pub async fn instance_metadata(
    State(state): State<AppState>,
    Path((study, series, sop)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = instance_scope(&study, &series, &sop)?;
    metadata(state, scope, headers, raw).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids;

    fn wanted(accept: &str) -> Vec<Wanted> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.parse().unwrap());
        wanted_from(&headers, None)
    }

    #[test]
    fn retrieve_targets_follow_preference() {
        let (form, targets) = targets_for(
            &wanted("multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.50, multipart/related; type=application/dicom; transfer-syntax=*; q=0.5"),
            "application/dicom",
            false,
        )
        .unwrap();
        assert_eq!(form, Form::Multipart);
        assert_eq!(
            targets,
            vec![
                Target::Syntax(uids::JPEG_BASELINE8_BIT.into()),
                Target::AsStored
            ]
        );
        let (form, targets) = targets_for(&wanted("*/*"), "application/dicom", false).unwrap();
        assert_eq!(form, Form::Multipart);
        assert_eq!(targets, vec![Target::from_parameter(None)]);
        assert!(targets_for(&wanted("image/png"), "application/dicom", true).is_none());
        assert!(targets_for(&wanted("application/dicom"), "application/dicom", false).is_none());
        let (form, _) =
            targets_for(&wanted("application/dicom"), "application/dicom", true).unwrap();
        assert_eq!(form, Form::Single);
    }

    #[test]
    fn metadata_formats_and_etags() {
        assert_eq!(
            metadata_format(&wanted("application/dicom+xml")).map(|f| f.0),
            Some(MetadataFormat::Xml)
        );
        assert_eq!(
            metadata_format(&wanted("image/png, application/json;q=0.2")),
            Some((MetadataFormat::Json, "application/json"))
        );
        assert!(metadata_format(&wanted("image/png")).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, "\"a\", W/\"b\"".parse().unwrap());
        assert!(if_none_match(&headers, "\"b\""));
        assert!(!if_none_match(&headers, "\"c\""));
    }
}
