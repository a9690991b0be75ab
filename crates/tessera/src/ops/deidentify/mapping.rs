//! The mapping table of a run: every replacement it made (original UID to new UID, original
//! Patient ID to pseudonym and to its date shift), recorded in the index under the run's id
//! before the instances that carry them are written (a de-identified copy never exists
//! without the means to re-identify it), and, for a command, in a CSV file (`--mapping`).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_dicom::deid::Outcome;

use crate::jobs::{DeidRun, JobStore, MappingKind, MappingRow};
use crate::ops::OpsError;

/// The CSV file's first line.
const CSV_HEADER: &str = "kind,original,replacement";

/// A run's mapping as it grows.
pub struct MappingLog {
    run: String,
    store: Arc<dyn JobStore>,
    csv: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    /// Rows recorded or pending, so that each is recorded once per run.
    seen: HashSet<(MappingKind, String)>,
    pending: Vec<MappingRow>,
    recorded: u64,
}

impl MappingLog {
    /// Record the run, and create the CSV file (refused if it exists: a mapping is never
    /// overwritten).
    pub async fn start(
        store: Arc<dyn JobStore>,
        run: &DeidRun,
        csv: Option<&Path>,
    ) -> Result<MappingLog, OpsError> {
        let csv = match csv {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(|e| OpsError::file(path, e))?;
                let mut writer = std::io::BufWriter::new(file);
                writeln!(writer, "{CSV_HEADER}").map_err(|e| OpsError::file(path, e))?;
                Some((path.to_path_buf(), writer))
            }
            None => None,
        };
        store.start_deid_run(run).await?;
        Ok(MappingLog {
            run: run.id.clone(),
            store,
            csv,
            seen: HashSet::new(),
            pending: Vec::new(),
            recorded: 0,
        })
    }

    /// The replacements of one de-identified instance, to be recorded at the next flush.
    pub fn add(&mut self, outcome: &Outcome) {
        for uid in &outcome.uids {
            self.push(MappingKind::Uid, &uid.original, &uid.replacement);
        }
        let (patient, pseudonym) = &outcome.patient_id;
        // An instance without a Patient ID is pseudonymised by its name, which the table
        // does not hold; an empty original would name no one.
        if !patient.is_empty() {
            self.push(MappingKind::PatientId, patient, pseudonym);
            if let Some(days) = outcome.date_shift_days {
                self.push(MappingKind::DateShift, patient, &days.to_string());
            }
        }
    }

    fn push(&mut self, kind: MappingKind, original: &str, replacement: &str) {
        if self.seen.insert((kind, original.to_string())) {
            self.pending.push(MappingRow {
                kind,
                original: original.to_string(),
                replacement: replacement.to_string(),
            });
        }
    }

    /// Record what was added since the last flush: in the index (one transaction), then in
    /// the CSV file.
    pub async fn flush(&mut self) -> Result<(), OpsError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        self.store.add_mapping(&self.run, &rows).await?;
        if let Some((path, writer)) = &mut self.csv {
            for row in &rows {
                writeln!(
                    writer,
                    "{},{},{}",
                    row.kind.name(),
                    csv_field(&row.original),
                    csv_field(&row.replacement)
                )
                .map_err(|e| OpsError::file(path, e))?;
            }
            writer.flush().map_err(|e| OpsError::file(path, e))?;
        }
        self.recorded += rows.len() as u64;
        Ok(())
    }

    /// Flush, and sync the CSV file.
    pub async fn finish(&mut self) -> Result<(), OpsError> {
        self.flush().await?;
        if let Some((path, writer)) = &mut self.csv {
            writer
                .get_ref()
                .sync_all()
                .map_err(|e| OpsError::file(path, e))?;
        }
        Ok(())
    }

    pub fn run(&self) -> &str {
        &self.run
    }

    /// Rows recorded so far.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line end.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv_field("1.2.3"), "1.2.3");
        assert_eq!(csv_field("DOE, JOHN"), "\"DOE, JOHN\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    }
}
