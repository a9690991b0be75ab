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
}

/// Studies a handler touched that its path does not name (STOW-RS): one audit record each.
#[derive(Debug, Clone, Default)]
pub struct TouchedStudies(pub Vec<String>);
