//! The audit trail: a record of every access to protected health information, every failed
//! authentication and every API-key change.
//!
//! - [`record`]: what a record holds.
//! - [`fhir`]: a record as a FHIR R4 AuditEvent (IHE Basic Audit Log Patterns).
//! - [`dicom_message`]: a record as a DICOM audit message (PS3.15 A.5), and
//!   [`syslog`]: sent over RFC 5424 syslog (UDP, or TLS per RFC 5425) to an audit record
//!   repository (IHE ATNA).

pub mod record;

pub use record::{Action, Agent, AuditRecord, EventType, Interaction, Outcome};
