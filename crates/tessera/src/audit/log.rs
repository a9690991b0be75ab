//! Where audit records are kept (the index), and how they are searched.

use async_trait::async_trait;

use super::record::AuditRecord;

/// A search of the trail (FHIR AuditEvent search parameters, already parsed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Recorded at or after (microseconds since the epoch).
    pub from_micros: Option<i64>,
    /// Recorded before.
    pub until_micros: Option<i64>,
    /// The agent: a subject, an API key name or a client id.
    pub agent: Option<String>,
    /// The study (Study Instance UID).
    pub study_uid: Option<String>,
    pub patient_id: Option<String>,
    /// Newest first, at most this many (after `offset`).
    pub limit: u32,
    pub offset: u32,
}

/// The trail's storage.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Append records in one transaction. A record naming a study but no patient is stored
    /// with the patient of that study, when the study is known.
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), AuditLogError>;
    /// Records matching, newest first.
    async fn search_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditLogError>;
    /// One record by its id.
    async fn audit_record(&self, id: i64) -> Result<Option<AuditRecord>, AuditLogError>;
    /// Delete records older than `before_micros`; how many went.
    async fn prune_audit(&self, before_micros: i64) -> Result<u64, AuditLogError>;
}

/// The trail's storage failed (the index's error, as text).
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit trail: {0}")]
pub struct AuditLogError(pub String);
