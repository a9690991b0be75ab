//! Durable writes on the local file system: write to a temporary name, fsync, rename; then
//! fsync the folders whose entries changed. The temporary name contains `#`, which
//! object_store's local listing skips, so a half-written file is never listed as a blob.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::StorageError;

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io {
        operation,
        path,
        source,
    }
}

/// Write `data` to `path` durably (the file's bytes; its name needs [`sync_folders`]).
pub fn write_synced(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(io_error("create folder", folder))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // object_store skips `name#digits` when listing: those are staging files.
    let temporary = folder.join(format!("{name}#{}", rand::random::<u32>()));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(data)?;
            file.sync_data()
        })
        .map_err(io_error("write", &temporary))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(io_error("rename", path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Fsync every folder from each file's parent up to (not including) `root`'s parent, once.
pub fn sync_folders(root: &Path, paths: &[PathBuf]) -> Result<(), StorageError> {
    let mut folders = BTreeSet::new();
    for path in paths {
        let mut folder = path.parent();
        while let Some(dir) = folder {
            if !dir.starts_with(root) || !folders.insert(dir.to_path_buf()) {
                break;
            }
            folder = dir.parent();
        }
    }
    for folder in folders {
        std::fs::File::open(&folder)
            .and_then(|f| f.sync_all())
            .map_err(io_error("fsync folder", &folder))?;
    }
    Ok(())
}
