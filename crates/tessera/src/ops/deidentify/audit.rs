//! The audit record of a de-identification (a command's or a job's): an Export (110106,
//! action Read: the originals are read and a copy leaves), its detail saying that it was
//! de-identified, with which project, edition and options, what came of it, the mapping's run
//! and the source studies. DICOM defines no event of its own for de-identification.

use super::pipeline::Deidentified;
use crate::audit::{Action, AuditRecord, EventType, Outcome};
use crate::index::InstanceRow;

/// Study UIDs named in the detail; the rest are counted.
const AUDITED_STUDIES: usize = 50;

/// What a run was.
pub struct Run<'a> {
    pub project: &'a str,
    /// The PS3.15 edition of the table applied.
    pub edition: &'a str,
    pub options: &'a [&'static str],
    /// The mapping's run id.
    pub run: &'a str,
}

/// Instances de-identified (written or already there), refused, failed.
pub fn tally(results: &[Deidentified]) -> (usize, usize, usize) {
    let count = |wanted: fn(&Deidentified) -> bool| results.iter().filter(|r| wanted(r)).count();
    (
        count(|r| matches!(r, Deidentified::Done { .. })),
        count(|r| matches!(r, Deidentified::Refused(_))),
        count(|r| matches!(r, Deidentified::Failed(_))),
    )
}

/// The record; `command` is `deidentify` or `deidentify job`, `target` where the copy went.
pub fn record(
    command: &str,
    target: &str,
    run: &Run<'_>,
    rows: &[InstanceRow],
    results: &[Deidentified],
) -> AuditRecord {
    let (done, refused, failed) = tally(results);
    let mut studies: Vec<&str> = rows.iter().map(|r| r.study_uid.as_str()).collect();
    studies.dedup();
    let named: Vec<&str> = studies.iter().take(AUDITED_STUDIES).copied().collect();
    let more = studies.len().saturating_sub(AUDITED_STUDIES);
    let options = if run.options.is_empty() {
        "no options".to_string()
    } else {
        run.options.join(", ")
    };
    let detail = format!(
        "de-identified (PS3.15 {} basic profile; {options}) with project {}, mapping run {}: \
         {done} instances de-identified, {refused} refused, {failed} failed; source studies {}{}",
        run.edition,
        run.project,
        run.run,
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
        if refused + failed == 0 {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        },
        command,
        target,
        detail,
    );
    if studies.len() == 1 {
        record.study_uid = Some(studies[0].to_string());
    }
    record
}
