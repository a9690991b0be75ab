//! The walk: every path given, folders recursively (in name order, symbolic links followed,
//! loops reported), zip files member by member, DICOMDIRs given by name through the files
//! they reference. Each file's first bytes tell what it is; the DICOM ones are grouped into
//! batches (up to `--batch-files` files or `--batch-size` bytes) for the workers, the others
//! are reported at once. Runs on a thread of its own: it blocks on the filesystem and on the
//! workers (the batch channel is bounded, so the walk never runs far ahead of storing).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use walkdir::WalkDir;

use super::candidate::{is_hidden, Candidate, Content, Limits};
use super::dicomdir::{self, Reference};
use super::report::FileResult;
use super::sniff::{self, Kind};
use super::zipped::{self, Found};
use crate::ops::progress::Progress;

pub type Batch = Vec<Candidate>;

pub struct Walk {
    limits: Limits,
    batches: mpsc::Sender<Batch>,
    results: mpsc::UnboundedSender<FileResult>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    batch: Batch,
    batch_bytes: u64,
    /// Hidden files and folders skipped.
    hidden: u64,
}

impl Walk {
    pub fn new(
        limits: Limits,
        batches: mpsc::Sender<Batch>,
        results: mpsc::UnboundedSender<FileResult>,
        progress: Arc<Progress>,
        stop: Arc<AtomicBool>,
    ) -> Walk {
        Walk {
            limits,
            batches,
            results,
            progress,
            stop,
            batch: Vec::new(),
            batch_bytes: 0,
            hidden: 0,
        }
    }

    /// Walk every path; the number of hidden files and folders skipped.
    pub fn run(mut self, paths: &[PathBuf]) -> u64 {
        for path in paths {
            if self.stopped() {
                break;
            }
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => self.folder(path),
                Ok(meta) => self.file(path, meta.len(), true),
                Err(err) => self.report(FileResult::failed(
                    path,
                    None,
                    0,
                    &format!("cannot read: {err}"),
                )),
            }
        }
        self.flush();
        self.hidden
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn folder(&mut self, root: &Path) {
        let include_hidden = self.limits.include_hidden;
        let mut hidden = 0;
        let entries = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                let keep = entry.depth() == 0
                    || include_hidden
                    || !is_hidden(&entry.file_name().to_string_lossy());
                if !keep {
                    hidden += 1;
                }
                keep
            });
        for entry in entries {
            if self.stopped() {
                break;
            }
            match entry {
                Ok(entry) if entry.file_type().is_file() => {
                    let size = entry.metadata().map_or(0, |m| m.len());
                    self.file(entry.path(), size, false);
                }
                Ok(_) => {}
                Err(err) => {
                    let path = err.path().unwrap_or(root).to_path_buf();
                    self.report(FileResult::failed(
                        &path,
                        None,
                        0,
                        &format!("cannot read: {err}"),
                    ));
                }
            }
        }
        self.hidden += hidden;
    }

    /// One file; `named` when the command line names it (a DICOMDIR is then followed).
    fn file(&mut self, path: &Path, size: u64, named: bool) {
        let head = match read_head(path) {
            Ok(head) => head,
            Err(err) => {
                let why = format!("cannot read: {err}");
                return self.report(FileResult::failed(path, None, size, &why));
            }
        };
        match sniff::classify(&head) {
            Kind::NotDicom(why) => self.report(FileResult::not_dicom(path, None, size, why)),
            Kind::Zip => self.zip(path, size),
            Kind::Dicomdir if named => self.dicomdir(path, size),
            Kind::Dicomdir => {
                let why = "a DICOMDIR, not an instance: the files it references are \
                           imported by the walk of its folder";
                self.report(FileResult::not_dicom(path, None, size, why));
            }
            kind => self.push(Candidate {
                path: path.to_path_buf(),
                member: None,
                kind,
                content: Content::File { size },
            }),
        }
    }

    fn zip(&mut self, path: &Path, size: u64) {
        let limits = self.limits.clone();
        let mut hidden = 0;
        let mut sink = |found: Found| {
            match found {
                Found::Candidate(candidate) => self.push(candidate),
                Found::Result(result) => self.report(result),
                Found::Hidden => hidden += 1,
            }
            !self.stopped()
        };
        if let Err(why) = zipped::members(path, &limits, &mut sink) {
            self.report(FileResult::failed(path, None, size, &why));
        }
        self.hidden += hidden;
    }

    fn dicomdir(&mut self, path: &Path, size: u64) {
        let references = match dicomdir::referenced_files(path) {
            Ok(references) => references,
            Err(why) => {
                let why = format!("a DICOMDIR that cannot be read: {why}");
                return self.report(FileResult::failed(path, None, size, &why));
            }
        };
        let why = format!(
            "a DICOMDIR, not an instance: the {} files it references are imported",
            references.len()
        );
        self.report(FileResult::not_dicom(path, None, size, &why));
        for reference in references {
            if self.stopped() {
                break;
            }
            match reference {
                Reference::Found(file) => {
                    let size = std::fs::metadata(&file).map_or(0, |m| m.len());
                    self.file(&file, size, false);
                }
                Reference::Missing(file) => {
                    let why = format!(
                        "referenced by the DICOMDIR {} but not there",
                        path.display()
                    );
                    self.report(FileResult::failed(&file, None, 0, &why));
                }
            }
        }
    }

    fn push(&mut self, candidate: Candidate) {
        let size = candidate.size();
        let full = self.batch.len() >= self.limits.batch_files
            || self.batch_bytes + size > self.limits.batch_bytes;
        if full && !self.batch.is_empty() {
            self.flush();
        }
        self.progress.add_total(1);
        self.batch.push(candidate);
        self.batch_bytes += size;
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if self.batches.blocking_send(batch).is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn report(&mut self, result: FileResult) {
        self.progress.add_total(1);
        let _ = self.results.send(result);
    }
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(sniff::HEAD);
    std::fs::File::open(path)?
        .take(sniff::HEAD as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}
