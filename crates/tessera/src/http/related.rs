//! Writing `multipart/related` responses (RFC 2387, PS3.18 8.7.3.3.1 / 8.6.1.2): one part
//! per frame or image, each with its own Content-Type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};

/// A fresh boundary; random, so it cannot be guessed into the payload.
pub fn boundary() -> String {
    format!("tessera-{:032x}", rand::random::<u128>())
}

/// A 200 response whose body holds `parts` (content type, payload) in order.
pub fn response(payload_type: &str, parts: Vec<(String, Bytes)>) -> Response {
    let boundary = boundary();
    let size: usize = parts
        .iter()
        .map(|(ct, body)| body.len() + ct.len() + boundary.len() + 64)
        .sum();
    let mut body = BytesMut::with_capacity(size + boundary.len() + 8);
    for (content_type, payload) in &parts {
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Type: ");
        body.extend_from_slice(content_type.as_bytes());
        body.extend_from_slice(b"\r\nContent-Length: ");
        body.extend_from_slice(payload.len().to_string().as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(payload);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");
    let content_type = format!("multipart/related; type=\"{payload_type}\"; boundary={boundary}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        body.freeze(),
    )
        .into_response()
}

/// A 200 response with one payload.
pub fn single(content_type: &str, payload: Bytes) -> Response {
    let mut response = (StatusCode::OK, payload).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
