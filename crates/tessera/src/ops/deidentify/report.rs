//! The per-instance report of `tessera deidentify --report FILE`: one JSON object per line,
//! every key on every line. It names the original UIDs beside the new ones, so it is
//! re-identification data, as the mapping is.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::pipeline::Deidentified;
use crate::index::InstanceRow;
use crate::ops::OpsError;

pub fn write(path: &Path, rows: &[InstanceRow], results: &[Deidentified]) -> Result<(), OpsError> {
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| OpsError::file(path, e))?);
    for (row, result) in rows.iter().zip(results) {
        let (status, name, sop, bytes, message) = match result {
            Deidentified::Done {
                name,
                sop,
                bytes,
                already,
            } => (
                if *already {
                    "already_there"
                } else {
                    "deidentified"
                },
                Some(name.as_str()),
                Some(sop.as_str()),
                *bytes,
                None,
            ),
            Deidentified::Refused(why) => ("refused", None, None, 0, Some(why.as_str())),
            Deidentified::Failed(why) => ("failed", None, None, 0, Some(why.as_str())),
        };
        let line = json!({
            "study_instance_uid": row.study_uid,
            "series_instance_uid": row.series_uid,
            "sop_instance_uid": row.sop_uid,
            "status": status,
            "name": name,
            "new_sop_instance_uid": sop,
            "bytes": bytes,
            "message": message,
        });
        writeln!(file, "{line}").map_err(|e| OpsError::file(path, e))?;
    }
    file.flush().map_err(|e| OpsError::file(path, e))
}
