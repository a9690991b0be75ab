//! multipart/related answers (RFC 2387; PS3.18 8.6.1.2) written as a stream: each part's
//! headers, then its body chunk by chunk, so that a response of gigabytes holds one chunk
//! (or one transcoded instance) in memory.

use std::io;

use axum::body::Body;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::retrieve::instances::PartBody;
use crate::retrieve::RetrieveError;

/// One part to write.
pub struct OutPart {
    pub content_type: String,
    pub body: PartBody,
}

/// A random boundary: RFC 2046 5.1.1 asks that it not occur in any part, and 128 random
/// bits make that practically certain for binary DICOM data too.
pub fn new_boundary() -> String {
    format!(
        "tessera-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// `multipart/related; type="..."; boundary=...`
pub fn content_type(payload_type: &str, boundary: &str) -> String {
    format!("multipart/related; type=\"{payload_type}\"; boundary={boundary}")
}

/// A part's body as a byte stream.
pub fn body_stream(body: PartBody) -> BoxStream<'static, Result<Bytes, io::Error>> {
    match body {
        PartBody::Bytes(bytes) => stream::once(async move { Ok(bytes) }).boxed(),
        PartBody::Stream { stream, .. } => stream
            .map_err(|err| {
                // The status line is gone: all that is left is to cut the answer short.
                tracing::error!(error = %err, "blob read failed while streaming an answer");
                io::Error::other(err.to_string())
            })
            .boxed(),
    }
}

/// The framed body of `parts`. A part that fails ends the body with an error, which aborts
/// the response: the client sees a truncated message, never a silently wrong one.
pub fn body(boundary: String, parts: BoxStream<'static, Result<OutPart, RetrieveError>>) -> Body {
    let closing = Bytes::from(format!("--{boundary}--\r\n"));
    let framed = parts
        .flat_map(move |part| match part {
            Ok(part) => {
                let head = Bytes::from(format!(
                    "--{boundary}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                    part.content_type,
                    part.body.len()
                ));
                stream::once(async move { Ok(head) })
                    .chain(body_stream(part.body))
                    .chain(stream::once(async { Ok(Bytes::from_static(b"\r\n")) }))
                    .boxed()
            }
            Err(err) => {
                tracing::error!(error = %err, "a part failed while streaming an answer");
                stream::once(async move { Err(io::Error::other(err.to_string())) }).boxed()
            }
        })
        .chain(stream::once(async move { Ok(closing) }));
    Body::from_stream(framed)
}
