//! The words of the route table ([`super::routes`]) that the guard ([`super::guard`]) and
//! the handlers share: who may call a route, what its audit record says, and what a handler
//! tells the audit record beyond its path.

use crate::auth::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the pages' static files, the FHIR capability statement.
    Open,
    /// Callers with this role.
    Needs(Role),
    /// `/metrics`: open with --metrics-open, else admin.
    Metrics,
}

/// Whose data a route touches, for callers limited to partitions
/// ([`crate::auth::PartitionAccess`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The default partition's: the plain DICOMweb routes, FHIR ImagingStudy and Endpoint,
    /// export jobs. A limited caller needs `default` among its partitions.
    Default,
    /// The partition the path names (`/dicom-web/partitions/{partition}/...`).
    Named,
    /// The whole archive's: the audit trail, metrics, creating partitions. Refused to
    /// limited callers.
    Archive,
    /// No partition's: open routes, and the list of partitions (which shows a limited
    /// caller only its own).
    Unscoped,
}

/// What a route's audit record says it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audited {
    /// Nothing about patients: not recorded.
    No,
    /// Searches (QIDO-RS, FHIR searches, the change feed): 110112, action E.
    Query,
    /// Reads of instances, metadata, frames, rendered images and FHIR resources: 110103, R.
    Read,
    /// STOW-RS: 110104, action C; recorded before the answer.
    Store,
    /// Deletes: 110105, action D; recorded before the answer.
    Delete,
    /// Reading the audit trail itself: 110112 (a query), R.
    AuditRead,
    /// Asking for an export job: 110106 Export, R (the job records what left when it ends).
    Export,
    /// Cancelling a job: 110106 Export, U.
    JobChange,
    /// Reading a de-identification mapping (original UIDs and Patient IDs beside their
    /// replacements): 110112, R, like reading the audit trail.
    MappingRead,
    /// Creating a partition: 110113 Security Alert (a change of the archive's
    /// configuration), action C.
    PartitionChange,
}

/// Studies a handler touched that its path does not name (STOW-RS): one audit record each.
#[derive(Debug, Clone, Default)]
pub struct TouchedStudies(pub Vec<String>);
