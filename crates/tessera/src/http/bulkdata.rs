//! WADO-RS bulk data handler (PS3.18 10.4.1.1.3): `.../instances/{i}/bulkdata/{path}`, as
//! `multipart/related; type="application/octet-stream"` by default or a single
//! `application/octet-stream` part when asked, the latter with HTTP Range support.
//! Range requests on the multipart form are answered whole (RFC 9110 lets a server ignore
//! Range; a byte range of a multipart body would cut through part headers).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, StreamExt};

use super::accept::wanted_from;
use super::multipart_out::{self, OutPart};
use super::range::{self, RangeRequest};
use super::wado::{header_value, instance_scope, query_accept, targets_for, Form};
use super::AppState;
use crate::http::error::ApiError;
use crate::retrieve::instances::PartBody;
use crate::retrieve::RetrieveError;

const OCTET_STREAM: &str = "application/octet-stream";

pub async fn bulk_data(
    State(state): State<AppState>,
    Path((study, series, sop, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let scope = instance_scope(&study, &series, &sop)?;
    let wanted = wanted_from(&headers, query_accept(&raw).as_deref());
    let (form, targets) = targets_for(&wanted, OCTET_STREAM, true).ok_or_else(|| {
        ApiError::NotAcceptable(
            "bulk data is answered as multipart/related; type=\"application/octet-stream\" \
             or application/octet-stream"
                .into(),
        )
    })?;
    let service = &state.retrieve;
    let mut refusal = None;
    let mut located = None;
    for target in &targets {
        match service.bulk_data(&scope, &path, target).await {
            Ok(data) => {
                located = Some(data);
                break;
            }
            Err(RetrieveError::NotAcceptable(why)) => {
                refusal.get_or_insert(why);
            }
            Err(err) => return Err(err.into()),
        }
    }
    let Some(data) = located else {
        return Err(ApiError::NotAcceptable(
            refusal.unwrap_or_else(|| "no acceptable transfer syntax".into()),
        ));
    };
    let content_type = format!("{OCTET_STREAM}; transfer-syntax={}", data.transfer_syntax);
    if form == Form::Multipart {
        let stream = service.bulk_stream(&data, 0..data.length).await?;
        let part = OutPart {
            content_type,
            body: PartBody::Stream {
                stream,
                length: data.length,
            },
        };
        let boundary = multipart_out::new_boundary();
        let parts = stream::once(async move { Ok(part) }).boxed();
        let mut response = multipart_out::body(boundary.clone(), parts).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header_value(&multipart_out::content_type(OCTET_STREAM, &boundary))?,
        );
        return Ok(response);
    }
    let requested = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match range::parse(requested, data.length) {
        RangeRequest::Full => (StatusCode::OK, 0..data.length),
        RangeRequest::Partial(range) => (StatusCode::PARTIAL_CONTENT, range),
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::RangeNotSatisfiable {
                length: data.length,
            })
        }
    };
    let length = range.end - range.start;
    let stream = service.bulk_stream(&data, range.clone()).await?;
    let body = multipart_out::body_stream(PartBody::Stream { stream, length });
    let mut response = (status, Body::from_stream(body)).into_response();
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, header_value(&content_type)?);
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        out.insert(
            header::CONTENT_RANGE,
            header_value(&format!(
                "bytes {}-{}/{}",
                range.start,
                range.end - 1,
                data.length
            ))?,
        );
    }
    Ok(response)
}
