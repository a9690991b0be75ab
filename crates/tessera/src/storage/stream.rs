//! Streaming reads: WADO-RS answers are streamed from the blob store so that a study of
//! gigabytes never sits in memory; only one chunk per response is in flight.
//!
//! object_store's local backend reads 8 KiB per blocking task; a local blob is read here in
//! larger chunks instead (one blocking read per chunk, not per 8 KiB), the first one in the
//! same blocking task that opens the file: a typical CT or MR instance (under 1 MiB) is one
//! blocking task in all.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use super::cached_read::{self, Cached};
use super::local;
use crate::storage::StorageError;

/// Bytes read per chunk from a local file.
const LOCAL_CHUNK: u64 = 1024 * 1024;

/// A stream of chunks of one object.
pub type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

fn io_error(
    operation: &'static str,
    path: &std::path::Path,
    source: std::io::Error,
) -> StorageError {
    StorageError::Io {
        operation,
        path: path.to_path_buf(),
        source,
    }
}

/// Read `range` of `path` at once (a frame): from the kernel's caches without leaving this
/// thread when it can ([`cached_read`]), else one blocking task that opens, seeks and reads
/// into a buffer of the range's size, left unzeroed until the read fills it. A file
/// shorter than the range gives the bytes it has; the caller checks the length.
pub(super) async fn local_range(
    path: PathBuf,
    key: String,
    range: Range<u64>,
) -> Result<Bytes, StorageError> {
    match cached_read::try_read(&path, range.clone()) {
        Some(Cached::Bytes(bytes)) => return Ok(Bytes::from(bytes)),
        Some(Cached::Missing) => return Err(StorageError::NotFound { key }),
        Some(Cached::Failed(err)) => return Err(io_error("read", &path, err)),
        None => {}
    }
    let opened = path.clone();
    local::blocking("read", &path, move || {
        let mut file = match std::fs::File::open(&opened) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound { key })
            }
            Err(err) => return Err(io_error("open", &opened, err)),
        };
        let length = range.end.saturating_sub(range.start);
        file.seek(SeekFrom::Start(range.start))
            .map_err(|err| io_error("seek", &opened, err))?;
        let mut buffer = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
        file.take(length)
            .read_to_end(&mut buffer)
            .map_err(|err| io_error("read", &opened, err))?;
        Ok(Bytes::from(buffer))
    })
    .await
}

/// Open `path` and stream `range` of it (the whole file when `None`). Opening happens here,
/// so a missing file is reported before the first byte of an answer is sent.
pub(super) async fn local_file(
    path: PathBuf,
    key: String,
    range: Option<Range<u64>>,
) -> Result<ByteStream, StorageError> {
    let opened = path.clone();
    let (file, first, remaining) = local::blocking("read", &path, move || {
        let mut file = match std::fs::File::open(&opened) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound { key })
            }
            Err(err) => return Err(io_error("open", &opened, err)),
        };
        let len = file
            .metadata()
            .map_err(|err| io_error("stat", &opened, err))?
            .len();
        let range = range.unwrap_or(0..len);
        if range.start > range.end || range.end > len {
            return Err(io_error(
                "read range of",
                &opened,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("range {range:?} outside a file of {len} bytes"),
                ),
            ));
        }
        file.seek(SeekFrom::Start(range.start))
            .map_err(|err| io_error("seek", &opened, err))?;
        let remaining = range.end - range.start;
        let first = read_chunk(&mut file, remaining.min(LOCAL_CHUNK), &opened)?;
        let left = remaining - first.len() as u64;
        Ok((file, first, left))
    })
    .await?;
    let first = (!first.is_empty()).then_some(Ok(first));
    let rest = stream::unfold(
        (Some(file), remaining, path),
        |(file, remaining, path)| async move {
            let mut file = file?;
            if remaining == 0 {
                return None;
            }
            let want = remaining.min(LOCAL_CHUNK);
            let read_path = path.clone();
            let read = local::blocking("read", &path, move || {
                let chunk = read_chunk(&mut file, want, &read_path)?;
                Ok((file, chunk))
            })
            .await;
            match read {
                Ok((file, chunk)) => Some((Ok(chunk), (Some(file), remaining - want, path))),
                // An error ends the stream: the reader sees it once, then nothing more.
                Err(err) => Some((Err(err), (None, 0, path))),
            }
        },
    );
    Ok(stream::iter(first).chain(rest).boxed())
}

/// Read exactly `want` bytes from where `file` stands.
fn read_chunk(
    file: &mut std::fs::File,
    want: u64,
    path: &std::path::Path,
) -> Result<Bytes, StorageError> {
    let mut buffer = vec![0u8; usize::try_from(want).unwrap_or(usize::MAX)];
    file.read_exact(&mut buffer)
        .map_err(|err| io_error("read", path, err))?;
    Ok(Bytes::from(buffer))
}
