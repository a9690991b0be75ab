//! De-identifications run by the server as jobs (`POST /jobs/deidentify`): the request
//! checked before the job is accepted, and the run of a job the worker took
//! ([`crate::ops::worker`]), with its progress, error log (refused and failed instances),
//! mapping table under the job's id, and audit record.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_dicom::deid::Deidentifier;

use super::audit::{self, tally};
use super::context::{DeidentifyContext, PartitionSource};
use super::mapping::MappingLog;
use super::masks::{self, MaskSpec};
use super::options;
use super::pipeline::{self, Deidentified};
use super::target::{same_partition, Place, Target};
use crate::audit::Agent;
use crate::index::{Index, InstanceRow};
use crate::jobs::{DeidRun, Job, JobError, JobProgress, JobState};
use crate::ops::export::job::check_job_destination;
use crate::ops::export::select::{self, Selection};
use crate::ops::progress::Progress;
use crate::ops::worker::lease::{counts, Ended, Runner};
use crate::ops::OpsError;
use crate::partition::PartitionName;
use crate::storage::BlobStore;

/// Instances read and de-identified at once by a job.
const JOB_WORK: usize = 4;

/// What to de-identify: the selection of `tessera export`, in the default partition or the
/// one named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default)]
    pub studies: Vec<String>,
    #[serde(default)]
    pub series: Vec<String>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// Where to: a destination a job can write (as `POST /jobs/export` takes it), or a partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// What `POST /jobs/deidentify` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeidentifyRequest {
    pub source: Source,
    pub target: TargetRequest,
    /// A project of the server's `--deid-project`.
    pub project: String,
    /// Option names ([`options::OPTION_NAMES`]).
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub allow_burned_in: bool,
    /// Clean Pixel Data masks ([`masks::MaskSpec`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masks: Vec<MaskSpec>,
}

impl DeidentifyRequest {
    fn selection(&self) -> Selection {
        Selection {
            studies: self.source.studies.clone(),
            series: self.source.series.clone(),
            query: self.source.query.clone(),
        }
    }

    /// The partitions the request names, source first: the caller must be allowed each.
    pub fn partitions(&self) -> Vec<&str> {
        [&self.source.partition, &self.target.partition]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The index and blob store the originals are read from.
    async fn originals(
        &self,
        index: &Arc<dyn Index>,
        store: &BlobStore,
        context: &DeidentifyContext,
    ) -> Result<PartitionSource, OpsError> {
        match &self.source.partition {
            Some(name) => context.partitions.source(name).await,
            None => Ok(PartitionSource {
                index: Arc::clone(index),
                store: store.clone(),
            }),
        }
    }

    fn place(&self) -> Result<Place, OpsError> {
        match (&self.target.to, &self.target.partition) {
            (Some(to), None) => Ok(Place::Destination(to.clone())),
            (None, Some(name)) => Ok(Place::Partition(name.clone())),
            _ => Err(OpsError::Invalid(
                "\"target\": give either \"to\" (a destination) or \"partition\" (a name)".into(),
            )),
        }
    }
}

/// Check a request as far as can be done before accepting it: something selected, the
/// options known, the project configured, a target a job can write, and every UID stored.
/// Returns how many instances it selects.
pub async fn check_request(
    index: &Arc<dyn Index>,
    store: &BlobStore,
    context: &DeidentifyContext,
    request: &DeidentifyRequest,
) -> Result<u64, OpsError> {
    let source = &request.source;
    if source.studies.is_empty() && source.series.is_empty() && source.query.is_none() {
        return Err(OpsError::Invalid(
            "say what to de-identify: \"source\" with \"studies\", \"series\" or \"query\"".into(),
        ));
    }
    options::parse(&request.options)?;
    masks::to_engine(&request.masks)?;
    context.projects.secret(&request.project)?;
    match request.place()? {
        Place::Destination(to) => check_job_destination(&to)?,
        Place::Partition(name) => {
            if let Some(from) = &source.partition {
                same_partition(from, &name)?;
            }
            context.partitions.ingest(&name).await?;
        }
    }
    let originals = request.originals(index, store, context).await?;
    let rows = select::instances(originals.index.as_ref(), &request.selection()).await?;
    if rows.is_empty() {
        return Err(OpsError::Invalid(
            "the query matches no stored study".into(),
        ));
    }
    Ok(rows.len() as u64)
}

/// Run one de-identification job the worker took.
pub async fn run(runner: &Runner, context: &DeidentifyContext, job: Job) {
    let prepared = match prepare(runner, context, &job).await {
        Ok(prepared) => prepared,
        Err(err) => {
            let failed = JobState::Failed;
            let message = err.to_string();
            runner
                .finish(&job, failed, JobProgress::default(), &message)
                .await;
            return;
        }
    };
    let Prepared {
        request,
        store,
        rows,
        deid,
        mut target,
        mut mapping,
    } = prepared;
    let total = rows.len() as u64;
    let progress = Arc::new(Progress::quiet("deidentify job", total));
    let work = pipeline::run(
        &store,
        &rows,
        &deid,
        &mut target,
        &mut mapping,
        JOB_WORK,
        &progress,
    );
    let outcome = match runner.supervise(&job, &progress, total, work).await {
        Ended::Lost => return,
        Ended::Done(outcome) => outcome,
    };
    let counts = counts(&progress, total);
    let (state, message) = match &outcome {
        Err(OpsError::Cancelled) => (JobState::Cancelled, "cancelled".to_string()),
        Err(err) => (JobState::Failed, err.to_string()),
        Ok(results) => {
            let errors = errors_of(&rows, results);
            runner.record_errors(&job, &errors).await;
            let (done, refused, failed) = tally(results);
            if errors.is_empty() {
                (
                    JobState::Completed,
                    format!("{done} instances de-identified"),
                )
            } else {
                (
                    JobState::Failed,
                    format!(
                        "{done} instances de-identified, {refused} refused, {failed} failed: \
                         see the job's errors"
                    ),
                )
            }
        }
    };
    if let Ok(results) = &outcome {
        let option_names = options::names(&deid.profile().options);
        let described = audit::Run {
            project: &request.project,
            edition: deid.edition(),
            options: &option_names,
            run: &job.id,
        };
        let place = request.place().map(|p| p.redacted()).unwrap_or_default();
        let mut record = audit::record("deidentify job", &place, &described, &rows, results);
        // The partition the originals were read from (None: the default).
        record.partition = request
            .source
            .partition
            .as_deref()
            .and_then(|name| PartitionName::parse(name).ok())
            .filter(|name| !name.is_default())
            .map(|name| name.to_string());
        record.agent = Agent {
            subject: job.created_by.clone(),
            ..Agent::default()
        };
        if let Err(err) = runner.audit.append_audit(&[record]).await {
            tracing::warn!(job = %job.id, %err, "could not record the de-identification in the audit trail");
        }
    }
    runner.finish(&job, state, counts, &message).await;
}

/// A job ready to run.
struct Prepared {
    request: DeidentifyRequest,
    /// Where the originals are read from.
    store: BlobStore,
    rows: Vec<InstanceRow>,
    deid: Arc<Deidentifier>,
    target: Target,
    mapping: MappingLog,
}

async fn prepare(
    runner: &Runner,
    context: &DeidentifyContext,
    job: &Job,
) -> Result<Prepared, OpsError> {
    let request: DeidentifyRequest = serde_json::from_str(&job.request)
        .map_err(|err| OpsError::Invalid(format!("the stored request cannot be read: {err}")))?;
    let chosen = options::parse(&request.options)?;
    // A project removed from the settings since the job was accepted fails the job here.
    let secret = context.projects.secret(&request.project)?;
    let originals = request
        .originals(&runner.index, &runner.store, context)
        .await?;
    let rows = select::instances(originals.index.as_ref(), &request.selection()).await?;
    let target = Target::open(&request.place()?, None, context.partitions.as_ref()).await?;
    let run = DeidRun {
        id: job.id.clone(),
        project: request.project.clone(),
        source: "job".into(),
        options: options::names(&chosen).join(","),
        created_by: job.created_by.clone(),
        created_at: job.created_at,
    };
    let mapping = MappingLog::start(Arc::clone(&runner.jobs), &run, None).await?;
    let deid = Arc::new(Deidentifier::new(options::profile(
        chosen,
        secret,
        request.allow_burned_in,
        masks::to_engine(&request.masks)?,
    )));
    Ok(Prepared {
        request,
        store: originals.store,
        rows,
        deid,
        target,
        mapping,
    })
}

/// The instances not written, with why (`refused: ...` or `failed: ...`).
fn errors_of(rows: &[InstanceRow], results: &[Deidentified]) -> Vec<JobError> {
    rows.iter()
        .zip(results)
        .filter_map(|(row, result)| {
            let message = match result {
                Deidentified::Refused(why) => format!("refused: {why}"),
                Deidentified::Failed(why) => format!("failed: {why}"),
                Deidentified::Done { .. } => return None,
            };
            Some(JobError {
                study_uid: row.study_uid.clone(),
                series_uid: row.series_uid.clone(),
                sop_uid: row.sop_uid.clone(),
                message,
            })
        })
        .collect()
}
