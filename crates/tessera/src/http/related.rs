//! Writing `multipart/related` responses (RFC 2387, PS3.18 8.7.3.3.1 / 8.6.1.2): one part
//! per frame or image, each with its own Content-Type.
//!
//! The payloads are not copied into one buffer: the body hands the connection each part's
//! small header and then the payload's own bytes (a frame read from the store or the frame
//! cache), with an exact size so the answer keeps its Content-Length.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Frame, SizeHint};

/// A fresh boundary; random, so it cannot be guessed into the payload.
pub fn boundary() -> String {
    format!("tessera-{:032x}", rand::random::<u128>())
}

/// A 200 response whose body holds `parts` (content type, payload) in order.
pub fn response(payload_type: &str, parts: Vec<(String, Bytes)>) -> Response {
    let boundary = boundary();
    let content_type = format!("multipart/related; type=\"{payload_type}\"; boundary={boundary}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::new(Parts::new(&boundary, parts)),
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

/// The chunks of a multipart body in order: each part's delimiter and headers, its
/// payload, and at the end the closing delimiter.
struct Parts {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Parts {
    fn new(boundary: &str, parts: Vec<(String, Bytes)>) -> Self {
        let mut chunks = VecDeque::with_capacity(parts.len() * 2 + 1);
        let mut lead = BytesMut::new();
        for (content_type, payload) in parts {
            lead.put_slice(b"--");
            lead.put_slice(boundary.as_bytes());
            lead.put_slice(b"\r\nContent-Type: ");
            lead.put_slice(content_type.as_bytes());
            lead.put_slice(b"\r\nContent-Length: ");
            lead.put_slice(payload.len().to_string().as_bytes());
            lead.put_slice(b"\r\n\r\n");
            if payload.len() < 4096 {
                // Small payloads travel with their header: not worth a chunk of their own.
                lead.put_slice(&payload);
            } else {
                chunks.push_back(lead.split().freeze());
                chunks.push_back(payload);
            }
            lead.put_slice(b"\r\n");
        }
        lead.put_slice(b"--");
        lead.put_slice(boundary.as_bytes());
        lead.put_slice(b"--\r\n");
        chunks.push_back(lead.freeze());
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Parts { chunks, remaining }
    }
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.pop_front();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn parts_are_framed_with_their_lengths_and_the_size_is_exact() {
        let big = Bytes::from(vec![7u8; 5000]);
        let parts = vec![
            (
                "application/octet-stream".to_string(),
                Bytes::from_static(b"abc"),
            ),
            ("application/octet-stream".to_string(), big.clone()),
        ];
        let body = Parts::new("B", parts);
        let size = http_body::Body::size_hint(&body).exact();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(size, Some(bytes.len() as u64));
        let mut expected = b"--B\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nabc\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000\r\n\r\n".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"\r\n--B--\r\n");
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[tokio::test]
    async fn an_answer_without_parts_is_only_the_closing_delimiter() {
        let body = Parts::new("B", Vec::new());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"--B--\r\n");
    }
}
