//! One part of a STOW request as it arrives: held in memory up to a limit, and beyond it
//! written to a staging file as the chunks come, so a large instance (an ultrasound cine, a
//! long multi-frame) is never held whole in memory. The staging file is later parsed through
//! a memory map (only the header pages are read) and moved or uploaded into the blob store.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use crate::storage::{StagedFile, StorageError};

/// Bytes written to a staging file per write call.
const WRITE_CHUNK: usize = 1 << 20;

/// A received instance.
#[derive(Debug)]
pub enum Received {
    Memory(Bytes),
    Staged(StagedFile),
}

impl Received {
    pub fn len(&self) -> u64 {
        match self {
            Received::Memory(bytes) => bytes.len() as u64,
            Received::Staged(file) => file.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Collects one part's chunks.
pub struct PartSpool {
    dir: PathBuf,
    limit: usize,
    buffer: BytesMut,
    file: Option<(tokio::fs::File, StagedFile)>,
}

impl PartSpool {
    /// `capacity` sizes the in-memory buffer (the expected part size, capped at `limit`).
    pub fn new(dir: &Path, limit: u64, capacity: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let capacity = usize::try_from(capacity).unwrap_or(0).min(limit);
        PartSpool {
            dir: dir.to_path_buf(),
            limit,
            buffer: BytesMut::with_capacity(capacity),
            file: None,
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        let staged = self.file.as_ref().map_or(0, |(_, staged)| staged.len());
        staged + self.buffer.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        if self.file.is_none() && self.buffer.len() + chunk.len() > self.limit {
            self.start_file().await?;
        }
        self.buffer.extend_from_slice(chunk);
        if self.file.is_some() && self.buffer.len() >= WRITE_CHUNK {
            self.write_buffer().await?;
        }
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Received, StorageError> {
        if self.file.is_none() {
            return Ok(Received::Memory(std::mem::take(&mut self.buffer).freeze()));
        }
        self.write_buffer().await?;
        let Some((mut file, staged)) = self.file.take() else {
            return Err(StorageError::Io {
                operation: "write",
                path: self.dir.clone(),
                source: std::io::Error::other("staging file vanished"),
            });
        };
        file.flush()
            .await
            .map_err(StorageError::io("write", staged.path()))?;
        Ok(Received::Staged(staged))
    }

    async fn start_file(&mut self) -> Result<(), StorageError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(StorageError::io("create folder", &self.dir))?;
        let path = self
            .dir
            .join(format!("part-{:016x}", rand::random::<u64>()));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(StorageError::io("create", &path))?;
        let staged = StagedFile::new(path);
        self.file = Some((file, staged));
        // Memory kept for the rest of the part: one write chunk, not the spool limit.
        let held = std::mem::replace(&mut self.buffer, BytesMut::with_capacity(WRITE_CHUNK));
        self.write_all(&held).await
    }

    async fn write_buffer(&mut self) -> Result<(), StorageError> {
        let held = std::mem::take(&mut self.buffer);
        self.write_all(&held).await?;
        self.buffer = held;
        self.buffer.clear();
        Ok(())
    }

    async fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError> {
        if let Some((file, staged)) = &mut self.file {
            file.write_all(data)
                .await
                .map_err(StorageError::io("write", staged.path()))?;
            staged.grow(data.len() as u64);
        }
        Ok(())
    }
}

/// Remove staging files left by a process that stopped mid-request, older than `grace`.
pub fn remove_stale(dir: &Path, grace: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let cutoff = std::time::SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified <= cutoff);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| entries.count())
    }

    #[tokio::test]
    async fn small_parts_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = PartSpool::new(dir.path(), 100, 0);
        spool.push(b"abc").await.unwrap();
        spool.push(&[7u8; 97]).await.unwrap();
        match spool.finish().await.unwrap() {
            Received::Memory(bytes) => {
                assert_eq!(bytes.len(), 100);
                assert_eq!(&bytes[..3], b"abc");
            }
            other => panic!("expected memory, got {other:?}"),
        }
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn large_parts_go_to_a_file_with_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = PartSpool::new(dir.path(), 1000, 1000);
        let data: Vec<u8> = (0..3 * WRITE_CHUNK + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        for chunk in data.chunks(7919) {
            spool.push(chunk).await.unwrap();
        }
        assert_eq!(spool.len(), data.len() as u64);
        let Received::Staged(staged) = spool.finish().await.unwrap() else {
            panic!("expected a staging file");
        };
        assert_eq!(staged.len(), data.len() as u64);
        assert_eq!(std::fs::read(staged.path()).unwrap(), data);
        assert_eq!(files_in(dir.path()), 1);
        drop(staged);
        assert_eq!(files_in(dir.path()), 0, "dropping a staged file removes it");
    }

    #[tokio::test]
    async fn a_taken_file_is_kept_and_stale_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = PartSpool::new(dir.path(), 4, 0);
        spool.push(b"0123456789").await.unwrap();
        let Received::Staged(staged) = spool.finish().await.unwrap() else {
            panic!("expected a staging file");
        };
        let path = staged.into_path();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
        assert_eq!(
            remove_stale(dir.path(), std::time::Duration::from_secs(3600)),
            0
        );
        assert_eq!(remove_stale(dir.path(), std::time::Duration::ZERO), 1);
        assert!(!path.exists());
    }
}
