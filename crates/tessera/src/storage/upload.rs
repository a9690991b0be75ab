//! Uploading a staged file to an object store in parts (S3 multipart upload), reading it a
//! part at a time so a large instance is never held in memory whole.

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, WriteMultipart};
use tokio::io::AsyncReadExt;

/// Bytes read from the file and sent per upload part (S3 wants at least 5 MiB but the last).
const PART_SIZE: usize = 8 << 20;

/// Upload the file at `file` to `location`; the object exists only once this returns `Ok`.
pub async fn from_file(
    store: &dyn ObjectStore,
    location: &StorePath,
    file: &std::path::Path,
) -> Result<(), object_store::Error> {
    let mut reader = tokio::fs::File::open(file)
        .await
        .map_err(|err| local_error(file, err))?;
    let upload = store.put_multipart(location).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut buffer = vec![0u8; PART_SIZE];
    loop {
        let read = match reader.read(&mut buffer).await {
            Ok(read) => read,
            Err(err) => {
                writer.abort().await?;
                return Err(local_error(file, err));
            }
        };
        if read == 0 {
            break;
        }
        // At most 2 parts in flight: memory stays a few parts whatever the file's size.
        if let Err(err) = writer.wait_for_capacity(2).await {
            // Leave no unfinished multipart upload behind in the bucket.
            writer.abort().await?;
            return Err(err);
        }
        writer.write(&buffer[..read]);
    }
    writer.finish().await?;
    Ok(())
}

fn local_error(file: &std::path::Path, err: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "staging file",
        source: format!("{}: {err}", file.display()).into(),
    }
}
