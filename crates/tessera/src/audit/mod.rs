//! The audit trail: a record of every access to protected health information, every failed
//! authentication and every API-key change.
//!
//! - [`record`]: what a record holds.
//! - `crate::fhir::audit_event`: a record as a FHIR R4 AuditEvent (IHE Basic Audit Log
//!   Patterns), beside the other FHIR resources.
//! - [`dicom_message`]: a record as a DICOM audit message (PS3.15 A.5), and
//!   [`syslog`]: sent over RFC 5424 syslog (UDP, or TLS per RFC 5425) to an audit record
//!   repository (IHE ATNA).

pub mod dicom_message;
pub mod forward;
pub mod log;
pub mod record;
pub mod syslog;
pub mod writer;

pub use log::{AuditLog, AuditLogError, AuditQuery};
pub use record::{Action, Agent, AuditRecord, EventType, Interaction, Outcome};

/// Records of the kinds the trail holds, for the tests of every view of a record.
#[cfg(test)]
pub(crate) mod samples {
    use super::{Action, Agent, AuditRecord, EventType, Interaction, Outcome};

    pub const STUDY: &str = "1.2.826.0.1.3680043.8.498.1";
    pub const SERIES: &str = "1.2.826.0.1.3680043.8.498.1.2";
    pub const SOP: &str = "1.2.826.0.1.3680043.8.498.1.2.3";

    fn base(event: EventType, action: Action, method: &str, path: &str) -> AuditRecord {
        AuditRecord {
            id: 42,
            recorded_micros: 1_709_208_000_123_456,
            event,
            interaction: None,
            action,
            outcome: Outcome::Success,
            status: 200,
            agent: Agent {
                subject: Some("f81d4fae-7dec-11d0-a765-00a0c91e6bf6".into()),
                client_id: Some("ohif-viewer".into()),
                api_key: None,
                issuer: Some("https://idp.example.org/realms/imaging".into()),
                address: Some("192.0.2.10".into()),
            },
            method: method.into(),
            path: path.into(),
            query: None,
            patient_id: None,
            study_uid: None,
            series_uid: None,
            sop_uid: None,
            detail: None,
            partition: None,
        }
    }

    /// STOW-RS of one instance.
    pub fn stow() -> AuditRecord {
        AuditRecord {
            interaction: Some(Interaction::Create),
            patient_id: Some("PAT-001".into()),
            study_uid: Some(STUDY.into()),
            series_uid: Some(SERIES.into()),
            sop_uid: Some(SOP.into()),
            ..base(
                EventType::InstancesTransferred,
                Action::Create,
                "POST",
                "/dicomweb/studies",
            )
        }
    }

    /// QIDO-RS search for studies.
    pub fn qido() -> AuditRecord {
        AuditRecord {
            id: 43,
            interaction: Some(Interaction::SearchType),
            query: Some("PatientID=PAT-001&ModalitiesInStudy=CT&includefield=all".into()),
            patient_id: Some("PAT-001".into()),
            ..base(
                EventType::Query,
                Action::Execute,
                "GET",
                "/dicomweb/studies",
            )
        }
    }

    /// WADO-RS frame read, by an API key.
    pub fn frames() -> AuditRecord {
        let path = format!("/dicomweb/studies/{STUDY}/series/{SERIES}/instances/{SOP}/frames/1");
        AuditRecord {
            id: 44,
            interaction: Some(Interaction::Read),
            agent: Agent {
                subject: Some("api-key:reading-room".into()),
                client_id: None,
                api_key: Some("reading-room".into()),
                issuer: None,
                address: Some("2001:db8::7".into()),
            },
            patient_id: Some("PAT-001".into()),
            study_uid: Some(STUDY.into()),
            series_uid: Some(SERIES.into()),
            sop_uid: Some(SOP.into()),
            ..base(EventType::InstancesAccessed, Action::Read, "GET", &path)
        }
    }

    /// Deletion of a study.
    pub fn delete() -> AuditRecord {
        AuditRecord {
            id: 45,
            interaction: Some(Interaction::Delete),
            status: 204,
            patient_id: Some("PAT-001".into()),
            study_uid: Some(STUDY.into()),
            ..base(
                EventType::StudyDeleted,
                Action::Delete,
                "DELETE",
                &format!("/dicomweb/studies/{STUDY}"),
            )
        }
    }

    /// A request with an expired token: nobody authenticated.
    pub fn failed_authentication() -> AuditRecord {
        AuditRecord {
            id: 46,
            interaction: Some(Interaction::SearchType),
            outcome: Outcome::MinorFailure,
            status: 401,
            agent: Agent {
                address: Some("198.51.100.23".into()),
                ..Agent::default()
            },
            detail: Some("token expired".into()),
            ..base(
                EventType::UserAuthentication,
                Action::Execute,
                "GET",
                "/dicomweb/studies",
            )
        }
    }

    /// An API key created from the command line: no HTTP, no network address.
    pub fn api_key_created() -> AuditRecord {
        AuditRecord {
            id: 47,
            status: 0,
            agent: Agent::default(),
            detail: Some("api key reading-room created with roles reader".into()),
            ..base(
                EventType::SecurityAlert,
                Action::Create,
                "api-key create",
                "reading-room",
            )
        }
    }

    /// An operator's import or rebuild from the command line.
    pub fn import() -> AuditRecord {
        AuditRecord {
            id: 48,
            status: 0,
            agent: Agent::default(),
            detail: Some("3 files: 2 stored, 1 already stored, 0 failed".into()),
            ..base(EventType::Import, Action::Create, "import", "/media/cd")
        }
    }

    /// A schema migration from the command line.
    pub fn migrate() -> AuditRecord {
        AuditRecord {
            id: 49,
            status: 0,
            agent: Agent::default(),
            detail: Some("index schema migrated to version 4: 0004 blob hash".into()),
            ..base(
                EventType::SecurityAlert,
                Action::Update,
                super::dicom_message::MIGRATE_COMMAND,
                "postgres://pacs@db/tessera",
            )
        }
    }

    /// Every sample, named.
    pub fn all() -> Vec<(&'static str, AuditRecord)> {
        vec![
            ("import", import()),
            ("migrate", migrate()),
            ("stow", stow()),
            ("qido", qido()),
            ("frames", frames()),
            ("delete", delete()),
            ("failed-authentication", failed_authentication()),
            ("api-key-created", api_key_created()),
        ]
    }
}
