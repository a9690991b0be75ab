//! `tessera deidentify`: the run on the command line, on the settings of `serve`, with
//! progress, a summary, a per-instance report, a mapping table (CSV and index) and an audit
//! record. Exit status as the other operators' commands: 0 clean, 1 when an instance was
//! refused or failed, 2 when it could not run.

use std::io::Write;
use std::sync::Arc;

use tessera_dicom::deid::Deidentifier;

use super::audit::{self, tally};
use super::context::DeidentifyContext;
use super::mapping::MappingLog;
use super::pipeline::{self, Deidentified};
use super::target::{same_partition, Place, Target};
use super::{masks, options, report, DeidentifyOptions};
use crate::config::Settings;
use crate::jobs::DeidRun;
use crate::ops::export::select::{self, Selection};
use crate::ops::progress::Progress;
use crate::ops::{Archive, Finished, OpsError};
use crate::time::now_micros;

/// `tessera deidentify`.
pub async fn run(settings: &Settings, request: &DeidentifyOptions) -> Result<Finished, OpsError> {
    let selection = Selection {
        studies: request.studies.clone(),
        series: request.series.clone(),
        query: request.query.clone(),
    };
    if selection.studies.is_empty() && selection.series.is_empty() && selection.query.is_none() {
        return Err(OpsError::Invalid(
            "say what to de-identify: --study UID, --series UID or --query 'PARAMS'".into(),
        ));
    }
    let context = DeidentifyContext::from_settings(settings)?;
    let chosen = options::parse(&request.options)?;
    let secret = context.projects.secret(&request.project)?;
    let masks = match &request.masks {
        Some(path) => masks::read_file(path)?,
        None => Vec::new(),
    };
    let place = match (&request.to, &request.to_partition) {
        (Some(to), None) => Place::Destination(to.clone()),
        (None, Some(name)) => Place::Partition(name.clone()),
        _ => {
            return Err(OpsError::Invalid(
                "say where to: --to DEST or --to-partition NAME".into(),
            ))
        }
    };
    if let (Some(from), Place::Partition(to)) = (&request.partition, &place) {
        same_partition(from, to)?;
    }
    let archive = Archive::open_for(settings, request.partition.as_deref()).await?;
    let rows = select::instances(archive.index.as_ref(), &selection).await?;
    if rows.is_empty() {
        return Err(OpsError::Invalid(
            "the query matches no stored study".into(),
        ));
    }
    let mut target =
        Target::open(&place, request.token.clone(), context.partitions.as_ref()).await?;
    let deid = Arc::new(Deidentifier::new(options::profile(
        chosen,
        secret,
        request.allow_burned_in,
        masks,
    )));
    let option_names = options::names(&chosen);
    let run = DeidRun {
        id: crate::jobs::new_id(),
        project: request.project.clone(),
        source: "command".into(),
        options: option_names.join(","),
        created_by: std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .map(|u| format!("os-user:{u}")),
        created_at: now_micros(),
    };
    // The mapping is kept with the jobs, in the default partition's index, whichever
    // partition the originals are read from.
    let jobs = archive.default_index().job_store();
    let mut mapping = MappingLog::start(jobs, &run, request.mapping.as_deref()).await?;
    let progress = Progress::new("deidentify", rows.len() as u64);
    let results = pipeline::run(
        &archive.store,
        &rows,
        &deid,
        &mut target,
        &mut mapping,
        request.jobs,
        &progress,
    )
    .await;
    progress.finish();
    let results = results?;
    let (_, bytes, seconds) = progress.done();
    if let Some(path) = &request.report {
        report::write(path, &rows, &results)?;
    }
    let (done, refused, failed) = tally(&results);
    let already = results
        .iter()
        .filter(|r| matches!(r, Deidentified::Done { already: true, .. }))
        .count();
    let target_name = place.redacted();
    let mut out = std::io::stdout().lock();
    for (row, result) in rows.iter().zip(&results) {
        match result {
            Deidentified::Refused(why) => {
                let _ = writeln!(out, "refused: instance {}: {why}", row.sop_uid);
            }
            Deidentified::Failed(why) => {
                let _ = writeln!(out, "failed: instance {}: {why}", row.sop_uid);
            }
            Deidentified::Done { .. } => {}
        }
    }
    let _ = writeln!(
        out,
        "de-identified {done} instances to {target_name} ({:.1} MB in {seconds:.1} s, {:.1} instances/s), {already} already there, {refused} refused, {failed} failed",
        bytes as f64 / 1e6,
        done as f64 / seconds.max(1e-3),
    );
    let _ = writeln!(
        out,
        "mapping: {} rows in the index under run {}{}",
        mapping.recorded(),
        mapping.run(),
        request
            .mapping
            .as_ref()
            .map(|p| format!(" and in {}", p.display()))
            .unwrap_or_default()
    );
    drop(out);
    let described = audit::Run {
        project: &request.project,
        edition: deid.edition(),
        options: &option_names,
        run: mapping.run(),
    };
    archive
        .audit(audit::record(
            "deidentify",
            &target_name,
            &described,
            &rows,
            &results,
        ))
        .await?;
    Ok(if refused + failed == 0 {
        Finished::Clean
    } else {
        Finished::Problems
    })
}
