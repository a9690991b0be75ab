//! `multipart/related; type="application/dicom"` bodies as chunk lists: a small fresh
//! chunk (delimiter + part headers + instance header) and the shared pixels per instance.

use std::io;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::Stream;

use super::synth::Synth;

/// Cannot occur in our headers; the pixel values are 12-bit, so their bytes never spell it.
const BOUNDARY: &str = "tessera-bench-3c1f6a0e9b2d4857";

pub fn content_type() -> String {
    format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}")
}

/// The two chunks of instance `index` of `cell`, the first part of a body if `first`.
pub fn part(synth: &Synth, cell: u32, index: u64, first: bool) -> Result<[Bytes; 2], String> {
    let instance = synth.instance(cell, index)?;
    let lead = lead(first);
    let mut head = BytesMut::with_capacity(lead.len() + instance.header.len());
    head.extend_from_slice(lead.as_bytes());
    head.extend_from_slice(&instance.header);
    Ok([head.freeze(), instance.pixels])
}

/// The delimiter and part headers before an instance, the first part of a body if `first`.
pub fn lead(first: bool) -> String {
    let delimiter = if first { "" } else { "\r\n" };
    format!("{delimiter}--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n")
}

pub fn closing() -> Bytes {
    Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"))
}

/// A whole (small) request body for instances `range` of `cell`, and its length.
pub fn request(synth: &Synth, cell: u32, range: Range<u64>) -> Result<(Vec<Bytes>, u64), String> {
    let first = range.start;
    let mut chunks = Vec::with_capacity(2 * (range.end - range.start) as usize + 1);
    for index in range {
        chunks.extend(part(synth, cell, index, index == first)?);
    }
    chunks.push(closing());
    let len = chunks.iter().map(|c| c.len() as u64).sum();
    Ok((chunks, len))
}

/// A body of `count` instances generated as it is sent: only the chunk being written is
/// ever held, whatever `count` is.
pub fn streamed(
    synth: Arc<Synth>,
    cell: u32,
    count: u64,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + Sync + 'static {
    use futures::stream::{self, StreamExt};
    let parts = stream::iter(0..count).flat_map(move |index| {
        let chunks = match part(&synth, cell, index, index == 0) {
            Ok(chunks) => chunks.into_iter().map(Ok).collect(),
            Err(err) => vec![Err(io::Error::other(err))],
        };
        stream::iter(chunks)
    });
    parts.chain(stream::iter([Ok(closing())]))
}
