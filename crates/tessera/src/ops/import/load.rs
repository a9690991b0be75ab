//! A worker reads each candidate of its batch: small files into memory, large ones copied to
//! a staging file (direct; the store then moves it into place) or left where they are to be
//! streamed (`--to`); raw data sets given file meta information; UIDs found for the
//! "already stored" check and to match a STOW-RS answer to its files. Blocking work: run on
//! the blocking pool.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::candidate::{Candidate, Content, Limits};
use super::report::FileResult;
use super::sniff::{self, Kind};
use super::zipped::too_large_message;
use crate::storage::StagedFile;
use tessera_dicom::status::StatusCode;

/// A DICOM file ready to store or send.
#[derive(Debug)]
pub struct Item {
    pub path: PathBuf,
    pub member: Option<String>,
    /// The file's (or member's) own size.
    pub bytes: u64,
    pub data: Data,
    pub sop: Option<String>,
    pub study: Option<String>,
    /// Whether the whole file walked (see [`sniff::Uids`]).
    pub walked: bool,
    /// A raw data set that was given file meta information.
    pub wrapped: bool,
}

/// Where an item's Part 10 bytes are.
#[derive(Debug)]
pub enum Data {
    Memory(Bytes),
    Staged(StagedFile),
    /// The file itself, `len` bytes, streamed when sent (`--to`, larger than the spool size).
    File {
        len: u64,
    },
}

impl Data {
    pub fn size(&self) -> u64 {
        match self {
            Data::Memory(bytes) => bytes.len() as u64,
            Data::Staged(staged) => staged.len(),
            Data::File { len } => *len,
        }
    }
}

impl Item {
    /// Its result, with what is known of it.
    pub fn result(&self, status: super::report::Status) -> FileResult {
        FileResult::new(&self.path, self.member.as_deref(), status, self.bytes)
            .uids(self.sop.clone(), self.study.clone())
    }
}

/// A candidate read, or what became of it.
pub enum Loaded {
    Item(Item),
    Done(FileResult),
}

/// Read one candidate.
pub fn load(candidate: Candidate, limits: &Limits) -> Loaded {
    let size = candidate.size();
    let Candidate {
        path,
        member,
        kind,
        content,
    } = candidate;
    let member_name = member.as_deref();
    if size > limits.max_bytes {
        return Loaded::Done(
            FileResult::failed(&path, member_name, size, &too_large_message(limits))
                .reason(StatusCode::OUT_OF_RESOURCES.0),
        );
    }
    let unreadable = |err: std::io::Error| {
        let why = format!("cannot read: {err}");
        Loaded::Done(FileResult::failed(&path, member_name, size, &why))
    };
    if kind == Kind::RawDataSet {
        let data = match &content {
            Content::File { .. } => std::fs::read(&path),
            Content::Memory(bytes) => Ok(bytes.to_vec()),
            Content::Staged(staged) => std::fs::read(staged.path()),
        };
        let data = match data {
            Ok(data) => data,
            Err(err) => return unreadable(err),
        };
        return match sniff::wrap_raw_data_set(&data) {
            Some((file, sop, study)) => Loaded::Item(Item {
                bytes: data.len() as u64,
                data: Data::Memory(Bytes::from(file)),
                path,
                member,
                sop,
                study,
                walked: true,
                wrapped: true,
            }),
            None => Loaded::Done(FileResult::not_dicom(
                &path,
                member_name,
                size,
                "no DICM prefix and not a DICOM data set",
            )),
        };
    }
    let data = match content {
        Content::File { size } if size <= limits.spool_bytes => match std::fs::read(&path) {
            Ok(bytes) => Data::Memory(Bytes::from(bytes)),
            Err(err) => return unreadable(err),
        },
        Content::File { size } if limits.stream_large => Data::File { len: size },
        Content::File { .. } => match stage(&path, limits) {
            Ok(staged) => Data::Staged(staged),
            Err(err) => return unreadable(err),
        },
        Content::Memory(bytes) => Data::Memory(bytes),
        Content::Staged(staged) => Data::Staged(staged),
    };
    let uids = match &data {
        Data::Memory(bytes) => sniff::uids(bytes),
        Data::Staged(staged) => uids_of_staged(staged.path()),
        Data::File { .. } => uids_of_head(&path),
    };
    Loaded::Item(Item {
        bytes: data.size(),
        path,
        member,
        data,
        sop: uids.sop,
        study: uids.study,
        walked: uids.walked,
        wrapped: false,
    })
}

/// A copy of the file in the staging folder (the store moves it into place).
fn stage(path: &Path, limits: &Limits) -> std::io::Result<StagedFile> {
    std::fs::create_dir_all(&limits.staging)?;
    let target = limits.staging_path();
    let mut staged = StagedFile::new(target.clone());
    let copied = std::fs::copy(path, &target)?;
    staged.grow(copied);
    Ok(staged)
}

/// The UIDs of a staging file, walked through a read-only memory map (as the ingest parses
/// it: only the pages of the element headers are read).
fn uids_of_staged(path: &Path) -> sniff::Uids {
    let Ok(file) = std::fs::File::open(path) else {
        return sniff::Uids::default();
    };
    // SAFETY: the staging file is this import's own (a random name, written and closed
    // before this); nothing truncates or writes it while it is mapped.
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) => sniff::uids(&map),
        Err(_) => sniff::Uids::default(),
    }
}

/// The SOP Instance UID of a file to be streamed, from its meta group (the file is not
/// mapped: it is not ours, and another process could truncate it).
fn uids_of_head(path: &Path) -> sniff::Uids {
    let mut head = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|file| file.take(64 * 1024).read_to_end(&mut head));
    match read {
        Ok(_) => sniff::Uids {
            walked: false,
            ..sniff::uids(&head)
        },
        Err(_) => sniff::Uids::default(),
    }
}
