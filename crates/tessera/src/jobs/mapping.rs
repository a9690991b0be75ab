//! The mapping tables of de-identification runs: what each run replaced (original UID to new
//! UID, original Patient ID to pseudonym and to the days its dates moved), kept in the index
//! under the run's id so that an admin can re-identify a de-identified copy.

use async_trait::async_trait;

use super::JobStoreError;

/// What a mapping row maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MappingKind {
    /// An original UID to its replacement.
    Uid,
    /// An original Patient ID (empty when the instance had none) to its pseudonym.
    PatientId,
    /// An original Patient ID to the days its dates were moved (Modified Dates option).
    DateShift,
}

impl MappingKind {
    pub const ALL: [MappingKind; 3] = [
        MappingKind::Uid,
        MappingKind::PatientId,
        MappingKind::DateShift,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MappingKind::Uid => "uid",
            MappingKind::PatientId => "patient_id",
            MappingKind::DateShift => "date_shift_days",
        }
    }

    pub fn parse(name: &str) -> Option<MappingKind> {
        MappingKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One replacement a run made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MappingRow {
    pub kind: MappingKind,
    pub original: String,
    pub replacement: String,
}

/// One de-identification run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeidRun {
    /// The job's id, or the command's run id (32 hexadecimal digits either way).
    pub id: String,
    /// The project whose secret made the replacement values.
    pub project: String,
    /// `job` or `command`.
    pub source: String,
    /// The options, comma-separated.
    pub options: String,
    pub created_by: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

/// Where mapping tables are kept: the index, beside the jobs.
#[async_trait]
pub trait MappingStore: Send + Sync {
    /// Record a run (again: a job that runs a second time keeps its first record).
    async fn start_deid_run(&self, run: &DeidRun) -> Result<(), JobStoreError>;
    async fn deid_run(&self, id: &str) -> Result<Option<DeidRun>, JobStoreError>;
    /// Add rows to a run's mapping in one transaction; rows it has already are kept as they
    /// are (the same project maps an original to the same replacement every time).
    async fn add_mapping(&self, run: &str, rows: &[MappingRow]) -> Result<(), JobStoreError>;
    /// A page of a run's mapping, by kind and original.
    async fn mapping(
        &self,
        run: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<MappingRow>, JobStoreError>;
}
