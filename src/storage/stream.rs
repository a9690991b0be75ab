//! Streaming reads: WADO-RS answers are streamed from the blob store so that a study of
//! gigabytes never sits in memory; only one chunk per response is in flight.
//!
//! object_store's local backend reads 8 KiB per blocking task; a local blob is read here in
//! larger chunks instead (one blocking read per chunk, not per 8 KiB).

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use crate::error::StorageError;

/// Bytes read per chunk from a local file.
const LOCAL_CHUNK: u64 = 256 * 1024;

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

async fn blocking<T: Send + 'static>(
    path: &std::path::Path,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| io_error("read", path, std::io::Error::other(err.to_string())))?
}

/// Open `path` and stream `range` of it (the whole file when `None`). Opening happens here,
/// so a missing file is reported before the first byte of an answer is sent.
pub(super) async fn local_file(
    path: PathBuf,
    key: String,
    range: Option<Range<u64>>,
) -> Result<ByteStream, StorageError> {
    let opened = path.clone();
    let (file, range) = blocking(&path, move || {
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
        Ok((file, range))
    })
    .await?;
    let remaining = range.end - range.start;
    let state = (Some(file), remaining, path);
    Ok(stream::unfold(state, |(file, remaining, path)| async move {
        let mut file = file?;
        if remaining == 0 {
            return None;
        }
        let want = remaining.min(LOCAL_CHUNK);
        let read_path = path.clone();
        let read = blocking(&path, move || {
            let mut buffer = vec![0u8; want as usize];
            file.read_exact(&mut buffer)
                .map_err(|err| io_error("read", &read_path, err))?;
            Ok((file, buffer))
        })
        .await;
        match read {
            Ok((file, buffer)) => Some((
                Ok(Bytes::from(buffer)),
                (Some(file), remaining - want, path),
            )),
            // An error ends the stream: the reader sees it once, then nothing more.
            Err(err) => Some((Err(err), (None, 0, path))),
        }
    })
    .boxed())
}
