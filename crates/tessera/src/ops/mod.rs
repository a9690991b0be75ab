//! The operators' commands, run as subcommands of the same binary on the same settings as
//! `serve` (so they work on the embedded default and on a cluster alike), beside running
//! nodes or instead of them:
//!
//! - [`migrate`]: the index schema's migrations alone;
//! - [`check`]: compare the index and the blob store, and repair what is safe to repair;
//! - [`reindex`]: rebuild the index from the blob store alone;
//! - [`import`]: store folders, zip files and DICOMDIRs, directly or through STOW-RS;
//! - [`export`]: studies, series or a query's studies out to a folder, a zip, an object
//!   store or another archive;
//! - [`deidentify`]: the same selection de-identified (PS3.15 Annex E) on its way out, with
//!   a mapping table of what was replaced.
//!
//! [`archive`] opens the stores from settings; [`progress`] shows long work on a terminal;
//! [`worker`] runs the export and de-identification jobs of `POST /jobs/...` on every node.

pub mod archive;
pub mod check;
pub mod deidentify;
mod error;
pub mod export;
pub mod import;
pub mod migrate;
pub mod progress;
pub mod reindex;
pub mod worker;

pub use archive::Archive;
pub use error::OpsError;

/// How a command ended when it could run: whether it found or left anything wrong (a file
/// that could not be imported, an inconsistency `check` found), for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Clean,
    Problems,
}
