//! `tessera check`: compare the index with the blob store. Every instance row's blob must be
//! there with the recorded size and hold its frames; every blob must belong to a row (blobs
//! younger than the sweep grace are uploads in flight and left alone); study and series
//! counts must be those of their rows. `--verify` also reads every blob (hash and content);
//! `--repair` fixes what is safe to fix.

mod findings;
mod verify;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;
use futures::StreamExt;

pub use findings::Finding;

use super::progress::Progress;
use super::{Archive, Finished, OpsError};
use crate::audit::{Action, AuditRecord, EventType, Outcome};
use crate::config::Settings;
use crate::index::{BlobRow, CountMismatch, DeleteTarget};
use crate::storage::BlobKey;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

/// Instance rows read per query.
const PAGE: u32 = 1000;
/// Findings printed one per line; the rest are counted (all are in `--report`).
const PRINTED: usize = 200;

/// What `tessera check` does beyond comparing the index with the store's listing.
#[derive(Debug, Clone, Args)]
pub struct CheckOptions {
    /// Also read every blob: its SHA-256 against the one recorded at ingest, and what it
    /// parses to (UIDs, frame ranges) against its row. Reads the whole store.
    #[arg(long)]
    pub verify: bool,
    /// Repair what is safe to repair: delete blobs that no row references (older than
    /// --sweep-grace) and recount study and series rows. Damaged or missing blobs are only
    /// reported: restore them from a backup, or see --forget-missing.
    #[arg(long)]
    pub repair: bool,
    /// With --repair, also remove the rows of instances whose blob is missing, as a DELETE
    /// does (the change feed and the FHIR server hear of it).
    #[arg(long, requires = "repair")]
    pub forget_missing: bool,
    /// Blobs read at once by --verify.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Write every finding as a JSON object per line to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Work on this partition (its index and blob prefix) instead of the default one.
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
}

/// What one check saw and found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub rows: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub verified: u64,
    /// Blobs without a row but younger than the grace period: uploads in flight.
    pub young_orphans: u64,
    pub findings: Vec<Finding>,
    /// Which findings a repair fixed (same order as `findings`).
    pub repaired: Vec<bool>,
}

impl CheckReport {
    /// Findings a repair did not fix.
    pub fn remaining(&self) -> usize {
        self.repaired.iter().filter(|r| !**r).count()
    }
}

/// `tessera check`: check, repair when asked, print, record in the audit trail.
pub async fn run(settings: &Settings, options: &CheckOptions) -> Result<Finished, OpsError> {
    let archive = Archive::open_for(settings, options.partition.as_deref()).await?;
    let mut report = check(&archive, options).await?;
    if options.repair {
        repair(&archive, options, &mut report).await?;
    }
    print(&report, options);
    if let Some(path) = &options.report {
        write_report(path, &report)?;
    }
    let fixed = report.repaired.iter().filter(|r| **r).count();
    let detail = format!(
        "checked {} instance rows and {} blobs{}: {} findings, {fixed} repaired",
        report.rows,
        report.blobs,
        if options.verify {
            ", read every blob"
        } else {
            ""
        },
        report.findings.len(),
    );
    let (action, command) = if fixed > 0 {
        (Action::Update, "check --repair")
    } else {
        (Action::Read, "check")
    };
    archive
        .audit(AuditRecord::of_command(
            EventType::InstancesAccessed,
            action,
            Outcome::Success,
            command,
            archive.store.description(),
            detail,
        ))
        .await?;
    Ok(if report.remaining() == 0 {
        Finished::Clean
    } else {
        Finished::Problems
    })
}

/// Compare the index with the store; change nothing.
pub async fn check(archive: &Archive, options: &CheckOptions) -> Result<CheckReport, OpsError> {
    let mut report = CheckReport::default();
    // Every blob, by key: 1,000,000 instances take about 200 MB here.
    let mut listed: HashMap<String, (u64, SystemTime)> = HashMap::new();
    let mut listing = archive.store.list_instances();
    while let Some(item) = listing.next().await {
        let item = item?;
        report.blobs += 1;
        report.blob_bytes += item.size;
        listed.insert(item.key.to_string(), (item.size, item.last_modified));
    }
    let (_, _, instances) = archive.index.counts().await?;
    let progress = Progress::new("check", instances.max(0) as u64);
    let mut after: Option<String> = None;
    loop {
        let rows = archive.index.blob_rows(after.as_deref(), PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.sop_uid.clone());
        let mut to_read = Vec::new();
        for row in rows {
            report.rows += 1;
            match listed.remove(row.blob_key.as_str()) {
                None => report.findings.push(Finding::MissingBlob {
                    study: row.study_uid.clone(),
                    series: row.series_uid.clone(),
                    sop: row.sop_uid.clone(),
                    key: row.blob_key.to_string(),
                }),
                Some((size, _)) => {
                    let sound = fits(&row, size, &mut report.findings);
                    if options.verify && sound {
                        to_read.push(row);
                    } else {
                        progress.advance(size);
                    }
                }
            }
        }
        let mut reads = futures::stream::iter(to_read)
            .map(|row| async move {
                let found = verify::verify(&archive.store, &row).await;
                (row.blob_size, found)
            })
            .buffer_unordered(options.jobs.max(1));
        while let Some((size, found)) = reads.next().await {
            report.findings.extend(found?);
            report.verified += 1;
            progress.advance(size);
        }
    }
    progress.finish();
    let cutoff = SystemTime::now()
        .checked_sub(Duration::from_secs(archive.settings.sweep_grace))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut orphans: Vec<(String, u64)> = Vec::new();
    for (key, (size, modified)) in listed {
        if modified <= cutoff {
            orphans.push((key, size));
        } else {
            report.young_orphans += 1;
        }
    }
    orphans.sort();
    report.findings.extend(
        orphans
            .into_iter()
            .map(|(key, size)| Finding::OrphanBlob { key, size }),
    );
    report.findings.extend(
        archive
            .index
            .count_mismatches()
            .await?
            .into_iter()
            .map(Finding::Counts),
    );
    report.repaired = vec![false; report.findings.len()];
    Ok(report)
}

/// Whether the blob has the recorded size and holds every frame; what is wrong otherwise.
fn fits(row: &BlobRow, size: u64, findings: &mut Vec<Finding>) -> bool {
    if size != row.blob_size {
        findings.push(Finding::SizeMismatch {
            sop: row.sop_uid.clone(),
            key: row.blob_key.to_string(),
            recorded: row.blob_size,
            actual: size,
        });
        return false;
    }
    let outside = row
        .frames
        .iter()
        .flatten()
        .enumerate()
        .find_map(|(i, pieces)| {
            pieces
                .iter()
                .map(|(offset, length)| offset.saturating_add(*length))
                .find(|end| *end > size)
                .map(|end| (i + 1, end))
        });
    if let Some((frame, end)) = outside {
        findings.push(Finding::FrameOutside {
            sop: row.sop_uid.clone(),
            key: row.blob_key.to_string(),
            frame,
            end,
            size,
        });
        return false;
    }
    true
}

/// Fix what is safe: orphan blobs (looked up again just before each delete), counts, and
/// with `--forget-missing` the rows of missing blobs.
async fn repair(
    archive: &Archive,
    options: &CheckOptions,
    report: &mut CheckReport,
) -> Result<(), OpsError> {
    let mut recount: BTreeSet<String> = BTreeSet::new();
    for (i, finding) in report.findings.iter().enumerate() {
        match finding {
            Finding::OrphanBlob { key, .. } => {
                let key = BlobKey::from_stored(key.clone());
                let referenced = archive
                    .index
                    .referenced_blobs(std::slice::from_ref(&key))
                    .await?;
                if !referenced.contains(key.as_str()) {
                    archive.store.delete(&key).await?;
                    report.repaired[i] = true;
                }
            }
            Finding::Counts(
                mismatch @ (CountMismatch::Study { .. } | CountMismatch::Series { .. }),
            ) => {
                recount.insert(mismatch.study_uid().to_string());
            }
            Finding::MissingBlob {
                study, series, sop, ..
            } if options.forget_missing => {
                let target = DeleteTarget {
                    study: parse_uid(StudyUid::parse(study))?,
                    series: Some(parse_uid(SeriesUid::parse(series))?),
                    sop: Some(parse_uid(SopInstanceUid::parse(sop))?),
                };
                archive.index.delete(target).await?;
                report.repaired[i] = true;
            }
            _ => {}
        }
    }
    for study in &recount {
        archive.index.recount(study).await?;
    }
    for (i, finding) in report.findings.iter().enumerate() {
        if let Finding::Counts(
            CountMismatch::Study { study_uid, .. } | CountMismatch::Series { study_uid, .. },
        ) = finding
        {
            report.repaired[i] = recount.contains(study_uid);
        }
    }
    Ok(())
}

fn parse_uid<T, E: std::fmt::Display>(parsed: Result<T, E>) -> Result<T, OpsError> {
    parsed.map_err(|err| OpsError::Invalid(format!("a UID in the index is not valid: {err}")))
}

fn print(report: &CheckReport, options: &CheckOptions) {
    let mut out = std::io::stdout().lock();
    for (finding, repaired) in report.findings.iter().zip(&report.repaired).take(PRINTED) {
        let mark = if *repaired { " [repaired]" } else { "" };
        let _ = writeln!(out, "{}{mark}", finding.line());
    }
    if report.findings.len() > PRINTED {
        let _ = writeln!(
            out,
            "... and {} more{}",
            report.findings.len() - PRINTED,
            if options.report.is_some() {
                " (all are in the report)"
            } else {
                " (--report FILE lists them all)"
            }
        );
    }
    let mut kinds: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for (finding, repaired) in report.findings.iter().zip(&report.repaired) {
        let entry = kinds.entry(finding.kind()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(*repaired);
    }
    let _ = writeln!(
        out,
        "checked {} instance rows and {} blobs ({:.1} MB){}",
        report.rows,
        report.blobs,
        report.blob_bytes as f64 / 1e6,
        if options.verify {
            format!(", {} read and verified", report.verified)
        } else {
            String::new()
        }
    );
    if report.young_orphans > 0 {
        let _ = writeln!(
            out,
            "{} blobs without a row are younger than the grace period (uploads in flight): left alone",
            report.young_orphans
        );
    }
    if kinds.is_empty() {
        let _ = writeln!(out, "no problems found");
    }
    for (kind, (count, repaired)) in kinds {
        let _ = writeln!(out, "{kind}: {count} ({repaired} repaired)");
    }
}

fn write_report(path: &std::path::Path, report: &CheckReport) -> Result<(), OpsError> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).map_err(|err| OpsError::file(path, err))?,
    );
    for (finding, repaired) in report.findings.iter().zip(&report.repaired) {
        writeln!(file, "{}", finding.json(*repaired)).map_err(|err| OpsError::file(path, err))?;
    }
    file.flush().map_err(|err| OpsError::file(path, err))
}
