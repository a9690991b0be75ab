//! Zip files: each member read as a stream (inflated as it is read), told by its first bytes
//! like a file, and kept in memory up to the spool size or written to a staging file beyond
//! it; never extracted to a folder. A member's claimed size is not trusted: memory and the
//! staging file both stop at the largest instance allowed.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use bytes::Bytes;

use super::candidate::{has_hidden_component, Candidate, Content, Limits};
use super::report::FileResult;
use super::sniff::{self, Kind};
use crate::storage::StagedFile;

/// What one zip member turned out to be.
pub enum Found {
    Candidate(Candidate),
    /// Not DICOM, or failed: reported as is.
    Result(FileResult),
    /// A hidden member (dot file, `__MACOSX/`), skipped.
    Hidden,
}

/// Hand every member of the zip file at `path` to `sink`, in the archive's order, until the
/// sink answers false. An error: the file is not a zip file that can be read at all.
pub fn members(
    path: &Path,
    limits: &Limits,
    sink: &mut dyn FnMut(Found) -> bool,
) -> Result<(), String> {
    let file = File::open(path).map_err(|err| format!("cannot open: {err}"))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|err| format!("not a zip file that can be read: {err}"))?;
    for index in 0..archive.len() {
        let name = archive.name_for_index(index).unwrap_or("?").to_string();
        let found = match archive.by_index(index) {
            Ok(mut member) => {
                if member.is_dir() {
                    continue;
                }
                if !limits.include_hidden && has_hidden_component(Path::new(&name)) {
                    Found::Hidden
                } else if member.encrypted() {
                    let why = "an encrypted member (not supported)";
                    Found::Result(FileResult::failed(path, Some(&name), member.size(), why))
                } else {
                    read_member(path, &name, &mut member, limits)
                }
            }
            Err(err) => Found::Result(FileResult::failed(
                path,
                Some(&name),
                0,
                &format!("cannot read the member: {err}"),
            )),
        };
        if !sink(found) {
            break;
        }
    }
    Ok(())
}

fn read_member(path: &Path, name: &str, member: &mut dyn Read, limits: &Limits) -> Found {
    let failed =
        |bytes: u64, why: String| Found::Result(FileResult::failed(path, Some(name), bytes, &why));
    let mut head = Vec::with_capacity(sniff::HEAD);
    if let Err(err) = member.take(sniff::HEAD as u64).read_to_end(&mut head) {
        return failed(0, format!("cannot read the member: {err}"));
    }
    let kind = match sniff::classify(&head) {
        Kind::NotDicom(why) => {
            let rest = std::io::copy(member, &mut std::io::sink()).unwrap_or(0);
            let size = head.len() as u64 + rest;
            return Found::Result(FileResult::not_dicom(path, Some(name), size, why));
        }
        Kind::Zip => {
            let why = "a zip file inside a zip file (not opened: unpack it first)";
            return Found::Result(FileResult::not_dicom(path, Some(name), 0, why));
        }
        Kind::Dicomdir => {
            let why = "a DICOMDIR, not an instance: every member of the zip file is imported";
            return Found::Result(FileResult::not_dicom(path, Some(name), 0, why));
        }
        kind => kind,
    };
    match collect(member, head, limits) {
        Ok(Ok(content)) => Found::Candidate(Candidate {
            path: path.to_path_buf(),
            member: Some(name.to_string()),
            kind,
            content,
        }),
        Ok(Err(too_large)) => Found::Result(
            FileResult::failed(path, Some(name), too_large, &too_large_message(limits))
                .reason(tessera_dicom::status::StatusCode::OUT_OF_RESOURCES.0),
        ),
        Err(err) => failed(0, format!("cannot read the member: {err}")),
    }
}

/// Why a file larger than the largest instance fails.
pub fn too_large_message(limits: &Limits) -> String {
    format!(
        "larger than the largest instance allowed ({} bytes, --max-instance-size)",
        limits.max_bytes
    )
}

/// The rest of `reader` after `first`: in memory up to the spool size, else in a staging
/// file. `Ok(Err(bytes))` when it is larger than the largest instance allowed.
pub fn collect(
    reader: &mut dyn Read,
    first: Vec<u8>,
    limits: &Limits,
) -> std::io::Result<Result<Content, u64>> {
    let mut data = first;
    let memory_limit = limits.spool_bytes.min(limits.max_bytes);
    let room = (memory_limit + 1).saturating_sub(data.len() as u64);
    reader.take(room).read_to_end(&mut data)?;
    if data.len() as u64 <= memory_limit {
        return Ok(Ok(Content::Memory(Bytes::from(data))));
    }
    std::fs::create_dir_all(&limits.staging)?;
    let path = limits.staging_path();
    let mut file = File::create(&path)?;
    let mut staged = StagedFile::new(path);
    file.write_all(&data)?;
    staged.grow(data.len() as u64);
    let room = (limits.max_bytes + 1).saturating_sub(data.len() as u64);
    let copied = std::io::copy(&mut reader.take(room), &mut file)?;
    staged.grow(copied);
    if staged.len() > limits.max_bytes {
        let rest = std::io::copy(reader, &mut std::io::sink()).unwrap_or(0);
        return Ok(Err(staged.len() + rest));
    }
    file.flush()?;
    Ok(Ok(Content::Staged(staged)))
}
