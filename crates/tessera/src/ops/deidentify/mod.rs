//! `tessera deidentify` and `POST /jobs/deidentify` (issue 19): studies, series or the studies
//! of a QIDO-RS query, as `tessera export` selects them, each instance de-identified by
//! [`tessera_dicom::deid`] (PS3.15 Annex E, the basic profile with the options asked for)
//! under a project's secret, and written to any destination of the export (a folder, a zip,
//! an object-store prefix, a STOW-RS service) or to a partition of this archive.
//!
//! - [`context`]: the projects (`--deid-project NAME=PATH`) and the partitions;
//! - [`options`]: the option names and the engine's profile; [`masks`]: the pixel masks;
//! - [`pipeline`]: read, de-identify, record the mapping, write, per instance;
//! - [`target`]: where the instances go; [`mapping`]: the mapping table of a run;
//! - [`command`]: the command; [`job`]: the job; [`report`] and [`audit`]: what is recorded.
//!
//! `docs/deidentification.md` describes the engine and this operation.

pub mod audit;
pub mod command;
pub mod context;
pub mod job;
pub mod mapping;
pub mod masks;
pub mod options;
pub mod pipeline;
pub mod report;
pub mod target;

use std::path::PathBuf;

use clap::Args;

pub use command::run;
pub use context::{
    ArchivePartitions, DeidentifyContext, PartitionIngest, PartitionSource, Partitions, Projects,
};

/// What to de-identify, how, and where to.
#[derive(Debug, Clone, Args)]
pub struct DeidentifyOptions {
    /// A study to de-identify (repeat for more).
    #[arg(long = "study", value_name = "UID")]
    pub studies: Vec<String>,
    /// A series to de-identify (repeat for more).
    #[arg(long = "series", value_name = "UID")]
    pub series: Vec<String>,
    /// The studies a study-level QIDO-RS query matches, its parameters as in a URL:
    /// 'PatientID=123&StudyDate=20240101-20241231'.
    #[arg(long)]
    pub query: Option<String>,
    /// Read the originals from this partition (its index and blob prefix) instead of the
    /// default one.
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
    /// The project (a --deid-project NAME) whose secret makes the replacement UIDs,
    /// pseudonyms and date shifts.
    #[arg(long)]
    pub project: String,
    /// An option of PS3.15 Table E.1-1 (repeatable or comma-separated): retain-safe-private,
    /// retain-uids, retain-device-identity, retain-institution-identity,
    /// retain-patient-characteristics, retain-longitudinal-full-dates or
    /// retain-longitudinal-modified-dates, clean-descriptors, clean-structured-content,
    /// clean-graphics.
    #[arg(long = "option", value_name = "NAME", value_delimiter = ',')]
    pub options: Vec<String>,
    /// Let instances whose pixels may show identifying text (Burned In Annotation YES,
    /// secondary captures, ultrasound) through with their pixels unchanged.
    #[arg(long)]
    pub allow_burned_in: bool,
    /// A JSON file of Clean Pixel Data masks: a list of {"manufacturer", "model" (optional),
    /// "rows", "columns", "rectangles": [{"x", "y", "width", "height"}]}. An instance of
    /// that device and size passes with those rectangles blacked out in every frame
    /// (compressed pixel data is decoded to Explicit VR Little Endian for it).
    #[arg(long, value_name = "FILE")]
    pub masks: Option<PathBuf>,
    /// Where to: a folder, a file ending in .zip, an object-store prefix (s3://, az://,
    /// gs://, file://), or an http(s):// DICOMweb service (STOW-RS), as `tessera export --to`.
    #[arg(
        long = "to",
        value_name = "DEST",
        required_unless_present = "to_partition",
        conflicts_with = "to_partition"
    )]
    pub to: Option<String>,
    /// A partition of this archive to store the de-identified instances into.
    #[arg(long = "to-partition", value_name = "NAME")]
    pub to_partition: Option<String>,
    /// A bearer token (or Tessera API key) for an http(s):// destination.
    #[arg(
        long = "token",
        env = "TESSERA_DEIDENTIFY_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Instances read and de-identified at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Write one JSON object per instance to this file (original and new UIDs, status,
    /// reason).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the run's mapping table to this CSV file (kind, original, replacement); it must
    /// not exist. The same rows are kept in the index under the run's id either way.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
}
