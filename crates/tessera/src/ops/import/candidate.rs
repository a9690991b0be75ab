//! A file found to import, as the walk hands it to the workers, and the limits the walk and
//! the workers read files under.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::sniff::Kind;
use crate::storage::StagedFile;

/// A file (or zip member) that is, by its first bytes, a DICOM instance.
#[derive(Debug)]
pub struct Candidate {
    /// The file, or the zip file holding the member.
    pub path: PathBuf,
    pub member: Option<String>,
    /// [`Kind::Part10`] or [`Kind::RawDataSet`].
    pub kind: Kind,
    pub content: Content,
}

/// Where a candidate's bytes are.
#[derive(Debug)]
pub enum Content {
    /// In the file at `path`, still to be read.
    File { size: u64 },
    /// A zip member read into memory.
    Memory(Bytes),
    /// A zip member larger than the spool size, written to a staging file.
    Staged(StagedFile),
}

impl Candidate {
    /// Its size in bytes (as last seen).
    pub fn size(&self) -> u64 {
        match &self.content {
            Content::File { size } => *size,
            Content::Memory(bytes) => bytes.len() as u64,
            Content::Staged(staged) => staged.len(),
        }
    }
}

/// How files are read.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Files larger than this are copied to a staging file (direct) or streamed (`--to`)
    /// rather than read into memory.
    pub spool_bytes: u64,
    /// Larger files fail (the server's --max-instance-size).
    pub max_bytes: u64,
    /// Where large zip members (and, direct, large files) are staged.
    pub staging: PathBuf,
    /// `--to`: large files are streamed from where they are, not staged.
    pub stream_large: bool,
    pub include_hidden: bool,
    pub batch_files: usize,
    pub batch_bytes: u64,
}

impl Limits {
    /// A new staging file's path.
    pub fn staging_path(&self) -> PathBuf {
        self.staging
            .join(format!("import-{:016x}", rand::random::<u64>()))
    }
}

/// Whether a file or folder name is hidden (dot files, macOS resource forks in zips).
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name == "__MACOSX"
}

/// Whether any component of a relative path is hidden.
pub fn has_hidden_component(path: &Path) -> bool {
    path.components()
        .any(|c| is_hidden(&c.as_os_str().to_string_lossy()))
}
