//! `tessera export`: studies, series or the studies a QIDO-RS query matches, taken out of the
//! archive as their stored Part 10 files, to a folder, a zip file, an object-store prefix, or
//! another archive over STOW-RS. Reads the index and store directly (no server needed), with
//! progress, a per-instance report, and a record in the audit trail of what left.

pub(in crate::ops) mod dest;
pub mod job;
pub(in crate::ops) mod select;
pub(in crate::ops) mod stow;

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use futures::StreamExt;
use serde_json::json;

use super::import::stow::StowClient;
use super::progress::Progress;
use super::{Archive, Finished, OpsError};
use crate::audit::{Action, AuditRecord, EventType, Outcome};
use crate::config::Settings;
use crate::index::InstanceRow;
use crate::storage::{BlobKey, BlobStore, StorageError};
use dest::Destination;
pub use select::Selection;

/// Study UIDs named in the audit record's detail; the rest are counted.
const AUDITED_STUDIES: usize = 50;

/// What to export and where to.
#[derive(Debug, Clone, Args)]
pub struct ExportOptions {
    /// A study to export (repeat for more).
    #[arg(long = "study", value_name = "UID")]
    pub studies: Vec<String>,
    /// A series to export (repeat for more).
    #[arg(long = "series", value_name = "UID")]
    pub series: Vec<String>,
    /// The studies a study-level QIDO-RS query matches, its parameters as in a URL:
    /// 'PatientID=123&StudyDate=20240101-20241231'.
    #[arg(long)]
    pub query: Option<String>,
    /// Where to: a folder (created if missing), a file ending in .zip (must not exist), an
    /// object-store prefix (s3://, az://, gs://, file://, with the same parameters and
    /// credentials as --storage-url), or an http(s):// DICOMweb service (STOW-RS).
    #[arg(long = "to", value_name = "DEST")]
    pub to: String,
    /// A bearer token (or Tessera API key) for an http(s):// destination.
    #[arg(long = "token", env = "TESSERA_EXPORT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Instances read from the archive at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Write one JSON object per instance to this file (name, UIDs, status, reason).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Work on this partition (its index and blob prefix) instead of the default one.
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
}

/// What happened to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exported {
    Written,
    /// Already at the destination, whole, from an earlier run.
    AlreadyThere,
    Failed(String),
}

/// `tessera export`.
pub async fn run(settings: &Settings, options: &ExportOptions) -> Result<Finished, OpsError> {
    let selection = Selection {
        studies: options.studies.clone(),
        series: options.series.clone(),
        query: options.query.clone(),
    };
    if selection.studies.is_empty() && selection.series.is_empty() && selection.query.is_none() {
        return Err(OpsError::Invalid(
            "say what to export: --study UID, --series UID or --query 'PARAMS'".into(),
        ));
    }
    let archive = Archive::open_for(settings, options.partition.as_deref()).await?;
    let rows = select::instances(archive.index.as_ref(), &selection).await?;
    if rows.is_empty() {
        return Err(OpsError::Invalid(
            "the query matches no stored study".into(),
        ));
    }
    let progress = Progress::new("export", rows.len() as u64);
    let results = if options.to.starts_with("http://") || options.to.starts_with("https://") {
        let client = StowClient::new(&options.to, options.token.clone())?;
        stow::send(&archive.store, &rows, &client, options.jobs, &progress).await
    } else {
        let mut destination = Destination::open(&options.to)?;
        copy(
            &archive.store,
            &rows,
            &mut destination,
            options.jobs,
            &progress,
        )
        .await
    };
    progress.finish();
    let results = results?;
    let (_, _, seconds) = progress.done();
    let bytes: u64 = rows
        .iter()
        .zip(&results)
        .filter(|(_, r)| **r == Exported::Written)
        .map(|(row, _)| row.blob_size)
        .sum();
    let count = |wanted: fn(&Exported) -> bool| results.iter().filter(|r| wanted(r)).count();
    let written = count(|r| *r == Exported::Written);
    let already = count(|r| *r == Exported::AlreadyThere);
    let failed = count(|r| matches!(r, Exported::Failed(_)));
    if let Some(path) = &options.report {
        write_report(path, &rows, &results)?;
    }
    let mut out = std::io::stdout().lock();
    for (row, result) in rows.iter().zip(&results) {
        if let Exported::Failed(reason) = result {
            let _ = writeln!(out, "not exported: instance {}: {reason}", row.sop_uid);
        }
    }
    let target = redacted(&options.to);
    let _ = writeln!(
        out,
        "exported {written} instances to {target} ({:.1} MB in {seconds:.1} s), {already} already there, {failed} failed",
        bytes as f64 / 1e6
    );
    drop(out);
    let mut studies: Vec<&str> = rows.iter().map(|r| r.study_uid.as_str()).collect();
    studies.dedup();
    let named: Vec<&str> = studies.iter().take(AUDITED_STUDIES).copied().collect();
    let more = studies.len().saturating_sub(AUDITED_STUDIES);
    let detail = format!(
        "{written} instances written, {already} already there, {failed} failed; studies {}{}",
        named.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    let mut record = AuditRecord::of_command(
        EventType::Export,
        Action::Read,
        if failed == 0 {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        },
        "export",
        &target,
        detail,
    );
    if studies.len() == 1 {
        record.study_uid = Some(studies[0].to_string());
    }
    archive.audit(record).await?;
    Ok(if failed == 0 {
        Finished::Clean
    } else {
        Finished::Problems
    })
}

/// The file name of an instance at the destination.
pub(super) fn name_of(row: &InstanceRow) -> String {
    format!("{}/{}/{}.dcm", row.study_uid, row.series_uid, row.sop_uid)
}

/// Read the blobs (a few at once) and write them in order. A blob missing from the archive
/// fails its instance; a destination that cannot be written stops the export.
pub(super) async fn copy(
    store: &BlobStore,
    rows: &[InstanceRow],
    destination: &mut Destination,
    jobs: usize,
    progress: &Progress,
) -> Result<Vec<Exported>, OpsError> {
    let mut skip = Vec::with_capacity(rows.len());
    for row in rows {
        skip.push(destination.has(&name_of(row), row.blob_size).await);
    }
    let store = store.clone();
    // Owned keys in the futures: a job runs this inside a spawned task.
    let keys: Vec<(BlobKey, bool)> = rows
        .iter()
        .zip(skip)
        .map(|(row, skip)| (row.blob_key.clone(), skip))
        .collect();
    let mut reads = futures::stream::iter(keys.into_iter().enumerate())
        .map(|(i, (key, skip))| {
            let store = store.clone();
            async move {
                if skip {
                    return (i, None);
                }
                (i, Some(store.get(&key).await))
            }
        })
        .buffered(jobs.max(1));
    let mut results = Vec::with_capacity(rows.len());
    while let Some((i, read)) = reads.next().await {
        let row = &rows[i];
        if progress.is_cancelled() {
            return Err(OpsError::Cancelled);
        }
        let result = match read {
            None => Exported::AlreadyThere,
            Some(Ok(bytes)) => {
                destination.write(&name_of(row), bytes).await?;
                Exported::Written
            }
            Some(Err(StorageError::NotFound { .. })) => Exported::Failed(
                "its blob is missing from the archive (see `tessera check`)".into(),
            ),
            Some(Err(err)) => return Err(err.into()),
        };
        if matches!(result, Exported::Failed(_)) {
            progress.fail();
        }
        progress.advance(row.blob_size);
        results.push(result);
    }
    destination.finish().await?;
    Ok(results)
}

/// A destination as it may be shown and recorded: no query string (it may hold a SAS).
fn redacted(to: &str) -> String {
    to.split('?').next().unwrap_or_default().to_string()
}

fn write_report(
    path: &std::path::Path,
    rows: &[InstanceRow],
    results: &[Exported],
) -> Result<(), OpsError> {
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| OpsError::file(path, e))?);
    for (row, result) in rows.iter().zip(results) {
        let (status, reason) = match result {
            Exported::Written => ("exported", None),
            Exported::AlreadyThere => ("already_there", None),
            Exported::Failed(reason) => ("failed", Some(reason.as_str())),
        };
        let line = json!({
            "name": name_of(row),
            "study_instance_uid": row.study_uid,
            "series_instance_uid": row.series_uid,
            "sop_instance_uid": row.sop_uid,
            "bytes": row.blob_size,
            "status": status,
            "message": reason,
        });
        writeln!(file, "{line}").map_err(|e| OpsError::file(path, e))?;
    }
    file.flush().map_err(|e| OpsError::file(path, e))
}
