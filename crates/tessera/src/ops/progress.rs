//! Progress of a long command: a bar with files, MB/s and the time left on a terminal, and a
//! plain line every few seconds on standard error otherwise (a log, a CI job).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain line is written when standard error is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// The progress of one command over files (instances) and their bytes.
pub struct Progress {
    what: &'static str,
    bar: Option<ProgressBar>,
    files: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    /// Of the files done, those a de-identification refused (counted apart from failures).
    refused: AtomicU64,
    total_files: AtomicU64,
    /// Nothing shown (a job the server runs reports its progress to the index instead).
    quiet: bool,
    cancelled: AtomicBool,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// `what` names the command in the plain lines; `total_files` may grow later
    /// ([`Progress::add_total`]) while a listing is still being read.
    pub fn new(what: &'static str, total_files: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total_files),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} files  {msg}  {elapsed_precise}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(what);
            bar
        });
        Progress {
            what,
            bar,
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            total_files: AtomicU64::new(total_files),
            quiet: false,
            cancelled: AtomicBool::new(false),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Progress that shows nothing: read with [`Progress::done`] and [`Progress::failed`].
    pub fn quiet(what: &'static str, total_files: u64) -> Progress {
        Progress {
            bar: None,
            quiet: true,
            ..Progress::new(what, total_files)
        }
    }

    /// One of the files done failed.
    pub fn fail(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Files that failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// One of the files done was refused (a de-identification's policy, not a failure).
    pub fn refuse(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Files refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Ask the work to stop at its next file.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// More files to do than first known.
    pub fn add_total(&self, files: u64) {
        let total = self.total_files.fetch_add(files, Ordering::Relaxed) + files;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// One more file done, of `bytes` bytes.
    pub fn advance(&self, bytes: u64) {
        let files = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let rate = self.rate(bytes);
        match &self.bar {
            Some(bar) => {
                bar.set_position(files);
                bar.set_message(format!("{:.1} MB  {rate:.1} MB/s", bytes as f64 / 1e6));
            }
            None if self.quiet => {}
            None => {
                let Ok(mut last) = self.last_line.lock() else {
                    return;
                };
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", self.line(files, bytes));
                }
            }
        }
    }

    /// Megabytes per second since the start.
    fn rate(&self, bytes: u64) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        bytes as f64 / 1e6 / seconds
    }

    fn line(&self, files: u64, bytes: u64) -> String {
        let total = self.total_files.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        let left = if files > 0 && total > files {
            format!(
                ", about {:.0} s left",
                seconds / files as f64 * (total - files) as f64
            )
        } else {
            String::new()
        };
        format!(
            "{}: {files}/{total} files, {:.1} MB, {:.1} MB/s{left}",
            self.what,
            bytes as f64 / 1e6,
            self.rate(bytes)
        )
    }

    /// Files and bytes done, and seconds since the start.
    pub fn done(&self) -> (u64, u64, f64) {
        (
            self.files.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
        )
    }

    /// Clear the bar (the command prints its summary next).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
