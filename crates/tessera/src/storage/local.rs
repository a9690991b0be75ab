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

/// Write `data` to `path` (inside `root`) durably, returning the folders [`sync_folders`]
/// must sync: every folder from the file's up to `root` (see [`make_folder`]).
pub fn write_synced(root: &Path, path: &Path, data: &[u8]) -> Result<Vec<PathBuf>, StorageError> {
    let (folder, changed) = make_folder(root, path)?;
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

/// Create `path`'s folder, returning it and the folders to sync before the file counts as
/// durable: each folder from the file's up to `root`, not only those created here. Another
/// request may have created a folder a moment ago and not synced its parent yet; answering
/// before that sync would promise what a power cut can take back (the power-loss test showed
/// it). Syncing a folder whose entries did not change costs little.
fn make_folder<'a>(root: &Path, path: &'a Path) -> Result<(&'a Path, Vec<PathBuf>), StorageError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(StorageError::io("create folder", folder))?;
    let changed = folder
        .ancestors()
        .take_while(|ancestor| ancestor.starts_with(root))
        .map(Path::to_path_buf)
        .collect();
    Ok((folder, changed))
}

/// Create `folder` and any missing parent, and sync the parent of each folder created, so
/// that the new folders survive a power cut (the data folder, the blob store's root, the
/// index's folder on a first start).
pub fn create_folder_synced(folder: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = folder.ancestors().take_while(|f| !f.exists()).collect();
    std::fs::create_dir_all(folder)?;
    for created in missing {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent).and_then(|f| f.sync_all())?;
        }
    }
    Ok(())
}

/// Move a complete staging file (same file system) to `path` inside `root`, fsynced first
/// when `fsync`; returns the folders [`sync_folders`] must sync.
pub fn move_into_place(
    staged: &Path,
    root: &Path,
    path: &Path,
    fsync: bool,
) -> Result<Vec<PathBuf>, StorageError> {
    if fsync {
        std::fs::File::open(staged)
            .and_then(|file| file.sync_data())
            .map_err(StorageError::io("fsync", staged))?;
    }
    let (_, changed) = make_folder(root, path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_folder_up_to_the_root_is_synced_even_one_another_request_made() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        create_folder_synced(&root).unwrap();
        // Another request created the study folder a moment ago and has not synced
        // `instances` yet: this request's answer must not depend on that sync.
        std::fs::create_dir_all(root.join("instances/study")).unwrap();
        let path = root.join("instances/study/series/sop.dcm");
        let folders = write_synced(&root, &path, b"DICM").unwrap();
        let expected: Vec<PathBuf> = ["instances/study/series", "instances/study", "instances", ""]
            .iter()
            .map(|relative| root.join(relative).components().collect())
            .collect();
        let folders: Vec<PathBuf> = folders.iter().map(|f| f.components().collect()).collect();
        assert_eq!(folders, expected);
        assert_eq!(std::fs::read(&path).unwrap(), b"DICM");
    }

    #[test]
    fn a_new_folder_and_its_missing_parents_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b/c");
        create_folder_synced(&folder).unwrap();
        assert!(folder.is_dir());
        create_folder_synced(&folder).unwrap();
    }
}
