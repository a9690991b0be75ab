//! Durable writes on the local file system: write to a temporary name, fsync, rename; then
//! fsync the folders whose entries changed. The temporary name contains `#`, which
//! object_store's local listing skips, so a half-written file is never listed as a blob.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::storage::StorageError;

/// Run blocking file work on tokio's blocking pool; a task that could not finish (panic,
/// shutdown) is an I/O error of `operation` on `path`.
pub(super) async fn blocking<T: Send + 'static>(
    operation: &'static str,
    path: &Path,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StorageError::Io {
            operation,
            path: path.to_path_buf(),
            source: std::io::Error::other(err.to_string()),
        })?
}

/// Write `data` to `path` durably, returning the folders whose entries changed (the file's
/// folder and the parent of every folder created for it), which [`sync_folders`] must sync.
pub fn write_synced(path: &Path, data: &[u8]) -> Result<Vec<PathBuf>, StorageError> {
    let (folder, changed) = make_folder(path)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // object_store skips `name#digits` when listing: those are staging files.
    let temporary = folder.join(format!("{name}#{}", rand::random::<u32>()));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(data)?;
            file.sync_data()
        })
        .map_err(StorageError::io("write", &temporary))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(StorageError::io("rename", path)));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(err);
    }
    Ok(changed)
}

/// Create `path`'s folder, returning it and the folders whose entries change by that and by
/// a new file in it.
fn make_folder(path: &Path) -> Result<(&Path, Vec<PathBuf>), StorageError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut changed = vec![folder.to_path_buf()];
    let mut missing = folder;
    while !missing.exists() {
        match missing.parent() {
            Some(parent) => {
                changed.push(parent.to_path_buf());
                missing = parent;
            }
            None => break,
        }
    }
    std::fs::create_dir_all(folder).map_err(StorageError::io("create folder", folder))?;
    Ok((folder, changed))
}

/// Move a complete staging file (same file system) to `path`, fsynced first when `fsync`;
/// returns the folders [`sync_folders`] must sync.
pub fn move_into_place(
    staged: &Path,
    path: &Path,
    fsync: bool,
) -> Result<Vec<PathBuf>, StorageError> {
    if fsync {
        std::fs::File::open(staged)
            .and_then(|file| file.sync_data())
            .map_err(StorageError::io("fsync", staged))?;
    }
    let (_, changed) = make_folder(path)?;
    std::fs::rename(staged, path).map_err(StorageError::io("rename", path))?;
    Ok(changed)
}

/// Fsync each of these folders once.
pub fn sync_folders(folders: BTreeSet<PathBuf>) -> Result<(), StorageError> {
    for folder in folders {
        std::fs::File::open(&folder)
            .and_then(|f| f.sync_all())
            .map_err(StorageError::io("fsync folder", &folder))?;
    }
    Ok(())
}
