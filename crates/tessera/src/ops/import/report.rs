//! What became of each file: one [`FileResult`] per file looked at, written as a JSON line to
//! `--report`, counted for the summary printed at the end.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::OpsError;

/// What became of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored now.
    Stored,
    /// Its SOP Instance UID was already stored (a re-run, or the same instance twice).
    AlreadyStored,
    /// Refused or not readable: `reason` and `message` say why.
    Failed,
    /// Not a DICOM instance (README, JPEG, Thumbs.db, a DICOMDIR itself).
    NotDicom,
}

/// One line of the report: every key on every line, `null` when not known.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// The file on disk (the zip file for a member of one).
    pub path: String,
    /// The member's name inside the zip file.
    pub member: Option<String>,
    pub status: Status,
    pub sop_instance_uid: Option<String>,
    pub study_instance_uid: Option<String>,
    /// The DICOM FailureReason (or WarningReason) as four hex digits, e.g. "C000".
    pub reason: Option<String>,
    /// The HTTP status of a STOW-RS request that failed as a whole (`--to`).
    pub http_status: Option<u16>,
    pub message: Option<String>,
    /// The file's (or member's) size.
    pub bytes: u64,
}

impl FileResult {
    pub fn new(path: &Path, member: Option<&str>, status: Status, bytes: u64) -> FileResult {
        FileResult {
            path: path.display().to_string(),
            member: member.map(str::to_string),
            status,
            sop_instance_uid: None,
            study_instance_uid: None,
            reason: None,
            http_status: None,
            message: None,
            bytes,
        }
    }

    pub fn not_dicom(path: &Path, member: Option<&str>, bytes: u64, why: &str) -> FileResult {
        FileResult::new(path, member, Status::NotDicom, bytes).message(why)
    }

    /// Failed for a reason that has no DICOM status code (unreadable, missing, HTTP).
    pub fn failed(path: &Path, member: Option<&str>, bytes: u64, why: &str) -> FileResult {
        FileResult::new(path, member, Status::Failed, bytes).message(why)
    }

    pub fn message(mut self, message: impl Into<String>) -> FileResult {
        self.message = Some(message.into());
        self
    }

    pub fn reason(mut self, code: u16) -> FileResult {
        self.reason = Some(format!("{code:04X}"));
        self
    }

    pub fn uids(mut self, sop: Option<String>, study: Option<String>) -> FileResult {
        self.sop_instance_uid = sop.or(self.sop_instance_uid);
        self.study_instance_uid = study.or(self.study_instance_uid);
        self
    }
}

/// A few words for the FailureReason codes a STOW-RS answer carries.
pub fn reason_words(code: &str) -> &'static str {
    match code {
        "0110" => "processing failure",
        "0111" => "duplicate SOP instance",
        "0122" => "SOP class not supported",
        "0124" => "not authorized",
        "A700" => "out of resources",
        "A900" => "data set does not match SOP class",
        "B000" => "coercion of data elements",
        "B006" => "elements discarded",
        "C000" => "cannot understand",
        "C122" => "transfer syntax not supported",
        _ => "",
    }
}

/// Files and bytes of one kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct Count {
    pub files: u64,
    pub bytes: u64,
}

/// Everything counted for the summary.
#[derive(Debug, Default)]
pub struct Tally {
    pub stored: Count,
    pub already: Count,
    pub failed: Count,
    pub not_dicom: Count,
    /// Failures by reason: a DICOM code, an HTTP status, or "other".
    pub failures: BTreeMap<String, u64>,
}

impl Tally {
    pub fn add(&mut self, result: &FileResult) {
        let count = match result.status {
            Status::Stored => &mut self.stored,
            Status::AlreadyStored => &mut self.already,
            Status::Failed => &mut self.failed,
            Status::NotDicom => &mut self.not_dicom,
        };
        count.files += 1;
        count.bytes += result.bytes;
        if result.status == Status::Failed {
            let key = match (&result.reason, result.http_status) {
                (Some(code), _) => {
                    let words = reason_words(code);
                    if words.is_empty() {
                        code.clone()
                    } else {
                        format!("{code} {words}")
                    }
                }
                (None, Some(status)) => format!("HTTP {status}"),
                (None, None) => "not read or not sent (see the report)".to_string(),
            };
            *self.failures.entry(key).or_default() += 1;
        }
    }

    /// The summary printed at the end; `seconds` of work.
    pub fn summary(&self, seconds: f64) -> String {
        let seconds = seconds.max(1e-3);
        let mb = |bytes: u64| bytes as f64 / 1e6;
        let mut out = String::new();
        let mut line = |label: &str, count: Count| {
            out.push_str(&format!(
                "  {label:<14}{:>9} files {:>12.1} MB\n",
                count.files,
                mb(count.bytes)
            ));
        };
        line("stored", self.stored);
        line("already there", self.already);
        line("failed", self.failed);
        line("not DICOM", self.not_dicom);
        for (reason, files) in &self.failures {
            out.push_str(&format!("      {files:>9}  {reason}\n"));
        }
        let dicom = self.stored.files + self.already.files + self.failed.files;
        out.push_str(&format!(
            "  {dicom} DICOM files in {seconds:.1} s: stored {:.1} instances/s, {:.1} MB/s\n",
            self.stored.files as f64 / seconds,
            mb(self.stored.bytes) / seconds,
        ));
        out
    }

    /// The audit record's detail.
    pub fn detail(&self) -> String {
        format!(
            "stored {} ({} bytes), already there {}, failed {}, not DICOM {}",
            self.stored.files,
            self.stored.bytes,
            self.already.files,
            self.failed.files,
            self.not_dicom.files
        )
    }
}

/// The `--report` file: one JSON object per line, written as results come.
pub struct ReportFile {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl ReportFile {
    pub fn create(path: &Path) -> Result<ReportFile, OpsError> {
        let file = std::fs::File::create(path).map_err(|err| OpsError::file(path, err))?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(file),
        })
    }

    pub fn write(&mut self, result: &FileResult) -> Result<(), OpsError> {
        let line = serde_json::to_string(result).map_err(|err| OpsError::file(&self.path, err))?;
        writeln!(self.out, "{line}").map_err(|err| OpsError::file(&self.path, err))
    }

    pub fn finish(mut self) -> Result<(), OpsError> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(|err| OpsError::file(&self.path, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_every_key() {
        let result = FileResult::new(Path::new("/a/b.dcm"), None, Status::Failed, 12)
            .reason(0xC000)
            .message("cannot understand");
        let line = serde_json::to_string(&result).unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"path":"/a/b.dcm","member":null,"status":"failed","sop_instance_uid":null,"#,
                r#""study_instance_uid":null,"reason":"C000","http_status":null,"#,
                r#""message":"cannot understand","bytes":12}"#
            )
        );
    }

    #[test]
    fn failures_are_grouped_by_reason() {
        let mut tally = Tally::default();
        let p = Path::new("x");
        tally.add(&FileResult::new(p, None, Status::Failed, 1).reason(0xC000));
        tally.add(&FileResult::new(p, None, Status::Failed, 1).reason(0xC000));
        let mut http = FileResult::new(p, None, Status::Failed, 1);
        http.http_status = Some(401);
        tally.add(&http);
        tally.add(&FileResult::new(p, None, Status::Stored, 100));
        assert_eq!(tally.failures["C000 cannot understand"], 2);
        assert_eq!(tally.failures["HTTP 401"], 1);
        assert_eq!(tally.stored.bytes, 100);
        assert!(tally.summary(1.0).contains("C000 cannot understand"));
    }
}
