//! `tessera import`: store folders, zip files and DICOMDIRs.
//!
//! A walk ([`walk`]) goes through every path on a thread of its own, tells each file by its
//! first bytes ([`sniff`]), opens zip files ([`zipped`]) and DICOMDIRs named on the command
//! line ([`dicomdir`]), reports what is not DICOM, and hands the rest in batches to `--jobs`
//! workers. A worker reads its batch ([`load`]) and stores it: directly, as one session of
//! the ingest path STOW-RS and C-STORE use ([`direct`]), or as one STOW-RS request to
//! another server ([`stow`]). Every file ends as one [`report::FileResult`]: a line of the
//! `--report` file and a count in the summary.

mod candidate;
mod dicomdir;
pub(in crate::ops) mod direct;
pub(in crate::ops) mod load;
mod pull;
pub(in crate::ops) mod report;
mod sniff;
pub(in crate::ops) mod stow;
mod walk;
mod zipped;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use clap::Args;
use tokio::sync::mpsc;

use super::progress::Progress;
use super::{Archive, Finished, OpsError};
use crate::audit::record::{Action, EventType, Outcome};
use crate::audit::AuditRecord;
use crate::config::{ByteSize, Settings};
use candidate::{Candidate, Limits};
use direct::Direct;
use load::Loaded;
use report::{FileResult, ReportFile, Tally};
use stow::StowClient;
use walk::{Batch, Walk};

/// Batches in a row whose store or index failed before the import gives up.
const FAILED_BATCHES_TO_STOP: u32 = 3;

/// What to import and where to.
#[derive(Debug, Clone, Args)]
pub struct ImportOptions {
    /// Folders (walked recursively), zip files, DICOMDIRs or single files.
    #[arg(required_unless_present = "from_dicomweb", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Pull every study of another DICOMweb server (QIDO-RS, then WADO-RS per study): its
    /// DICOMweb root, e.g. http://orthanc:8042/dicom-web.
    #[arg(long, value_name = "URL")]
    pub from_dicomweb: Option<String>,
    /// A bearer token for --from-dicomweb, sent as `Authorization: Bearer`.
    #[arg(
        long,
        env = "TESSERA_IMPORT_FROM_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub from_token: Option<String>,
    /// Studies asked for per QIDO-RS page with --from-dicomweb.
    #[arg(
        long,
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=10000)
    )]
    pub from_page_size: u32,
    /// Send to a running Tessera or any STOW-RS service instead of storing directly: its
    /// DICOMweb root, e.g. http://pacs:8080/dicom-web (`/studies` is added).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// A bearer token or Tessera API key for --to, sent as `Authorization: Bearer`.
    #[arg(
        long,
        env = "TESSERA_IMPORT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Write one JSON object per file to this file (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Batches stored (or STOW-RS requests sent) at once.
    #[arg(
        long,
        short = 'j',
        default_value_t = 4,
        value_parser = clap::value_parser!(u16).range(1..=64)
    )]
    pub jobs: u16,
    /// Most files per batch (one index transaction, or one STOW-RS request).
    #[arg(
        long,
        default_value_t = 32,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub batch_files: u16,
    /// Most bytes per batch (a larger file makes a batch of its own).
    #[arg(long, default_value = "64MiB", value_name = "SIZE")]
    pub batch_size: ByteSize,
    /// Also import hidden files and folders (names starting with a dot, `__MACOSX`).
    #[arg(long)]
    pub include_hidden: bool,
}

/// Where batches go.
enum Target {
    Direct(Direct),
    Stow(StowClient),
}

/// What the workers share.
struct Shared {
    target: Target,
    limits: Limits,
    batches: tokio::sync::Mutex<mpsc::Receiver<Batch>>,
    results: mpsc::UnboundedSender<FileResult>,
    stop: Arc<AtomicBool>,
    failed_batches: AtomicU32,
    last_error: Mutex<Option<String>>,
}

pub async fn run(settings: &Settings, options: &ImportOptions) -> Result<Finished, OpsError> {
    for path in &options.paths {
        std::fs::metadata(path).map_err(|err| OpsError::file(path, err))?;
    }
    let mut report = options
        .report
        .as_deref()
        .map(ReportFile::create)
        .transpose()?;
    let (target, archive, staging) = match &options.to {
        Some(url) => {
            let client = StowClient::new(url, options.token.clone())?;
            let staging =
                std::env::temp_dir().join(format!("tessera-import-{}", std::process::id()));
            (Target::Stow(client), None, staging)
        }
        None => {
            let archive = Archive::open(settings).await?;
            let service = archive.ingest();
            let staging = service.staging.clone();
            let direct = Direct::new(service, Arc::clone(&archive.index));
            (Target::Direct(direct), Some(archive), staging)
        }
    };
    let destination = match &target {
        Target::Direct(_) => format!(
            "{} and {}",
            settings.redacted_database_url(),
            settings.redacted_storage_url()
        ),
        Target::Stow(client) => client.url().to_string(),
    };
    let limits = Limits {
        spool_bytes: settings.spool_size.bytes(),
        max_bytes: settings.max_instance_size.bytes(),
        staging: staging.clone(),
        stream_large: options.to.is_some(),
        include_hidden: options.include_hidden,
        batch_files: usize::from(options.batch_files),
        batch_bytes: options.batch_size.bytes().max(1),
    };
    let progress = Arc::new(Progress::new("import", 0));
    let stop = Arc::new(AtomicBool::new(false));
    let jobs = usize::from(options.jobs);
    let (batch_tx, batch_rx) = mpsc::channel(jobs);
    let (result_tx, mut result_rx) = mpsc::unbounded_channel();
    let pull = match &options.from_dicomweb {
        Some(url) => {
            let pull = pull::Pull::new(
                url,
                options.from_token.clone(),
                options.from_page_size as usize,
                limits.clone(),
                archive.as_ref().map(|a| Arc::clone(&a.index)),
                batch_tx.clone(),
                result_tx.clone(),
                Arc::clone(&progress),
                Arc::clone(&stop),
            )?;
            Some(tokio::spawn(pull.run()))
        }
        None => None,
    };
    let walker = {
        let walk = Walk::new(
            limits.clone(),
            batch_tx,
            result_tx.clone(),
            Arc::clone(&progress),
            Arc::clone(&stop),
        );
        let paths = options.paths.clone();
        tokio::task::spawn_blocking(move || walk.run(&paths))
    };
    let shared = Arc::new(Shared {
        target,
        limits,
        batches: tokio::sync::Mutex::new(batch_rx),
        results: result_tx,
        stop: Arc::clone(&stop),
        failed_batches: AtomicU32::new(0),
        last_error: Mutex::new(None),
    });
    let workers: Vec<_> = (0..jobs)
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();

    let mut tally = Tally::default();
    let mut report_error = None;
    let collect = async {
        while let Some(result) = result_rx.recv().await {
            tally.add(&result);
            progress.advance(result.bytes);
            if let (Some(file), None) = (report.as_mut(), &report_error) {
                if let Err(err) = file.write(&result) {
                    report_error = Some(err);
                }
            }
        }
    };
    let work = async move {
        let hidden = walker
            .await
            .map_err(|err| OpsError::Task(err.to_string()))?;
        let pulled = match pull {
            Some(pull) => pull.await.map_err(|err| OpsError::Task(err.to_string()))?,
            None => Ok(()),
        };
        for worker in workers {
            worker
                .await
                .map_err(|err| OpsError::Task(err.to_string()))?;
        }
        let last_error = shared.last_error.lock().ok().and_then(|l| l.clone());
        // The last sender of results: the collection ends with it.
        drop(shared);
        Ok::<_, OpsError>((hidden, pulled, last_error))
    };
    let (work, ()) = tokio::join!(work, collect);
    progress.finish();
    let (hidden, pulled, last_error) = work?;
    if options.to.is_some() {
        // Empty by now: every staging file is removed when dropped.
        let _ = std::fs::remove_dir(&staging);
    }
    let (_, _, seconds) = progress.done();

    let mut summary = format!("imported {} into {destination}\n", paths_text(options));
    summary.push_str(&tally.summary(seconds));
    if hidden > 0 {
        summary.push_str(&format!(
            "  {hidden} hidden files or folders skipped (--include-hidden imports them)\n"
        ));
    }
    if let Some(path) = &options.report {
        summary.push_str(&format!("  report: {}\n", path.display()));
    }
    // Not println!: a closed standard output (`| head`) must not stop the audit record.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), summary.as_bytes());
    let stopped = stop.load(Ordering::Relaxed);
    if let Some(archive) = &archive {
        let outcome = if stopped {
            Outcome::SeriousFailure
        } else if tally.failed.files > 0 {
            Outcome::MinorFailure
        } else {
            Outcome::Success
        };
        let record = AuditRecord::of_command(
            EventType::Import,
            Action::Create,
            outcome,
            "import",
            &paths_text(options),
            tally.detail(),
        );
        let audited = archive.audit(record).await;
        // After a store failure the index may well refuse the record too: the import's
        // own error is the one to show then.
        if !stopped {
            audited?;
        }
    }
    if let Some(file) = report {
        match report_error {
            Some(err) => return Err(err),
            None => file.finish()?,
        }
    }
    pulled?;
    if stopped {
        return Err(OpsError::Invalid(format!(
            "import stopped: {FAILED_BATCHES_TO_STOP} batches in a row could not be stored \
             ({}); run the same command again to resume",
            last_error.unwrap_or_default()
        )));
    }
    Ok(if tally.failed.files > 0 {
        Finished::Problems
    } else {
        Finished::Clean
    })
}

fn paths_text(options: &ImportOptions) -> String {
    options
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .chain(options.from_dicomweb.clone())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Take batches until there are none: read, store or send, report.
async fn worker(shared: Arc<Shared>) {
    loop {
        let batch = shared.batches.lock().await.recv().await;
        let Some(batch) = batch else {
            break;
        };
        if shared.stop.load(Ordering::Relaxed) {
            for candidate in batch {
                let _ = shared.results.send(not_imported(&candidate, &shared));
            }
            continue;
        }
        let limits = shared.limits.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|candidate| load::load(candidate, &limits))
                .collect::<Vec<_>>()
        })
        .await;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(err) => {
                tracing::error!(%err, "reading a batch failed");
                continue;
            }
        };
        let mut items = Vec::with_capacity(loaded.len());
        for each in loaded {
            match each {
                Loaded::Item(item) => items.push(item),
                Loaded::Done(result) => {
                    let _ = shared.results.send(result);
                }
            }
        }
        if items.is_empty() {
            continue;
        }
        let results = match &shared.target {
            Target::Direct(direct) => {
                let stored = direct.store(items).await;
                match &stored.error {
                    Some(err) => {
                        tracing::error!(%err, "a batch could not be stored");
                        if let Ok(mut last) = shared.last_error.lock() {
                            *last = Some(err.to_string());
                        }
                        let in_a_row = shared.failed_batches.fetch_add(1, Ordering::Relaxed) + 1;
                        if in_a_row >= FAILED_BATCHES_TO_STOP {
                            shared.stop.store(true, Ordering::Relaxed);
                        }
                    }
                    None => shared.failed_batches.store(0, Ordering::Relaxed),
                }
                stored.results
            }
            Target::Stow(client) => client.send(items).await,
        };
        for result in results {
            let _ = shared.results.send(result);
        }
    }
}

/// A candidate of a batch taken after the import stopped.
fn not_imported(candidate: &Candidate, shared: &Shared) -> FileResult {
    let last = shared
        .last_error
        .lock()
        .ok()
        .and_then(|l| l.clone())
        .unwrap_or_default();
    FileResult::failed(
        &candidate.path,
        candidate.member.as_deref(),
        candidate.size(),
        &format!("not imported: the import stopped after repeated store failures ({last})"),
    )
}
