//! Reading a frame's stored bytes: only the byte ranges recorded at ingest, never the whole
//! object (PS3.18 8.7.3: frames are the hot path of web viewers).
//!
//! A native frame is one range. An encapsulated frame is one or more fragment payloads; they
//! lie close together (separated by 8-byte item headers), so the span from the first to the
//! last is read with one range GET and the payloads are sliced out of it.

use bytes::{Bytes, BytesMut};

use crate::storage::StorageError;
use crate::storage::{BlobKey, BlobStore};

/// The bytes of one frame: its ranges `(offset, length)` joined, plus `extra` bytes after
/// the last range (see `decode::read_ahead`).
pub async fn read_frame(
    store: &BlobStore,
    key: &BlobKey,
    ranges: &[(u64, u64)],
    extra: u64,
) -> Result<Bytes, StorageError> {
    match ranges {
        [] => Ok(Bytes::new()),
        [(offset, length)] => store.get_range(key, *offset..offset + length + extra).await,
        [first, .., last] => {
            let start = first.0;
            let end = last.0 + last.1 + extra;
            let span = store.get_range(key, start..end).await?;
            Ok(join(&span, start, ranges, extra))
        }
    }
}

/// Slice the payloads out of a span read from `start`; ranges outside the span are cut
/// short rather than panicking (a blob shorter than recorded is caught by the caller's
/// length checks).
fn join(span: &Bytes, start: u64, ranges: &[(u64, u64)], extra: u64) -> Bytes {
    let total: u64 = ranges.iter().map(|r| r.1).sum::<u64>() + extra;
    let mut out = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
    let last = ranges.len().saturating_sub(1);
    for (i, (offset, length)) in ranges.iter().enumerate() {
        let length = if i == last { length + extra } else { *length };
        let from = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX);
        let to = from.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
        if let Some(piece) = span.get(from.min(span.len())..to.min(span.len())) {
            out.extend_from_slice(piece);
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_fragment_payloads() {
        // Two fragments at 100 (len 4) and 112 (len 2), with an item header between.
        let span = Bytes::from_static(b"AAAAhhhhhhhhBB");
        assert_eq!(&join(&span, 100, &[(100, 4), (112, 2)], 0)[..], b"AAAABB");
        assert_eq!(&join(&span, 100, &[(100, 4), (112, 3)], 0)[..], b"AAAABB");
    }
}
