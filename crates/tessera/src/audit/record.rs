//! One audit record: who did what to which patient's data, from where, when, and how it ended.
//! The trail stores these ([`crate::index::AuditLog`]); [`super::fhir`] shows them as FHIR
//! AuditEvent resources and [`super::dicom_message`] as DICOM audit messages.

/// What happened, as a DICOM audit event ID (PS3.15 A.5.3, codes of the DCM scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// 110112 Query: QIDO-RS, FHIR searches, the change feed.
    Query,
    /// 110103 DICOM Instances Accessed: metadata, frames, rendered images, retrieve, FHIR reads.
    InstancesAccessed,
    /// 110104 DICOM Instances Transferred: STOW-RS (received, action Create).
    InstancesTransferred,
    /// 110105 DICOM Study Deleted.
    StudyDeleted,
    /// 110114 User Authentication: failed sign-ins (bad, expired, unknown tokens or keys).
    UserAuthentication,
    /// 110113 Security Alert: refused for a missing role; API keys created or revoked.
    SecurityAlert,
    /// 110107 Import: instances brought in by an operator's command (`tessera import`,
    /// `tessera reindex`).
    Import,
    /// 110106 Export: instances taken out by an operator's command or job.
    Export,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Query,
        EventType::InstancesAccessed,
        EventType::InstancesTransferred,
        EventType::StudyDeleted,
        EventType::UserAuthentication,
        EventType::SecurityAlert,
        EventType::Import,
        EventType::Export,
    ];

    /// The DCM code.
    pub fn code(self) -> &'static str {
        match self {
            EventType::Query => "110112",
            EventType::InstancesAccessed => "110103",
            EventType::InstancesTransferred => "110104",
            EventType::StudyDeleted => "110105",
            EventType::UserAuthentication => "110114",
            EventType::SecurityAlert => "110113",
            EventType::Import => "110107",
            EventType::Export => "110106",
        }
    }

    /// The DCM code's meaning.
    pub fn display(self) -> &'static str {
        match self {
            EventType::Query => "Query",
            EventType::InstancesAccessed => "DICOM Instances Accessed",
            EventType::InstancesTransferred => "DICOM Instances Transferred",
            EventType::StudyDeleted => "DICOM Study Deleted",
            EventType::UserAuthentication => "User Authentication",
            EventType::SecurityAlert => "Security Alert",
            EventType::Import => "Import",
            EventType::Export => "Export",
        }
    }

    pub fn from_code(code: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// The kind of access (FHIR AuditEvent.action, DICOM EventActionCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Execute,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Create,
        Action::Read,
        Action::Update,
        Action::Delete,
        Action::Execute,
    ];

    /// `C`, `R`, `U`, `D` or `E`.
    pub fn code(self) -> &'static str {
        match self {
            Action::Create => "C",
            Action::Read => "R",
            Action::Update => "U",
            Action::Delete => "D",
            Action::Execute => "E",
        }
    }

    pub fn from_code(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// The FHIR RESTful interaction of the request (AuditEvent.subtype in IHE BALP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Read,
    SearchType,
    Create,
    Update,
    Delete,
}

impl Interaction {
    pub const ALL: [Interaction; 5] = [
        Interaction::Read,
        Interaction::SearchType,
        Interaction::Create,
        Interaction::Update,
        Interaction::Delete,
    ];

    /// The code of http://hl7.org/fhir/restful-interaction.
    pub fn code(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::SearchType => "search-type",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Delete => "delete",
        }
    }

    pub fn from_code(code: &str) -> Option<Interaction> {
        Interaction::ALL.into_iter().find(|i| i.code() == code)
    }
}

/// How it ended (FHIR AuditEvent.outcome, DICOM EventOutcomeIndicator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: success.
    Success,
    /// 4: the request was refused or failed on its own terms (4xx).
    MinorFailure,
    /// 8: the server failed (5xx).
    SeriousFailure,
    /// 12: major failure.
    MajorFailure,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::MinorFailure => 4,
            Outcome::SeriousFailure => 8,
            Outcome::MajorFailure => 12,
        }
    }

    pub fn from_code(code: i64) -> Outcome {
        match code {
            0 => Outcome::Success,
            4 => Outcome::MinorFailure,
            8 => Outcome::SeriousFailure,
            _ => Outcome::MajorFailure,
        }
    }

    /// The outcome of an HTTP status: 2xx/3xx success, 4xx minor, 5xx serious.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            0..=399 => Outcome::Success,
            400..=499 => Outcome::MinorFailure,
            _ => Outcome::SeriousFailure,
        }
    }
}

/// Who: the caller as authenticated (or as far as authentication got).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    /// The token's `sub`, or `api-key:NAME`; `None` when anonymous or unauthenticated.
    pub subject: Option<String>,
    /// The token's `client_id` / `azp`, when it has one.
    pub client_id: Option<String>,
    /// The API key's name, when one was used.
    pub api_key: Option<String>,
    /// The token's issuer.
    pub issuer: Option<String>,
    /// The client's network address (IP).
    pub address: Option<String>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Assigned by the trail when stored; 0 before.
    pub id: i64,
    /// When, in microseconds since the Unix epoch (UTC).
    pub recorded_micros: i64,
    pub event: EventType,
    pub interaction: Option<Interaction>,
    pub action: Action,
    pub outcome: Outcome,
    /// The HTTP status answered (0 when not an HTTP request, e.g. a command).
    pub status: u16,
    pub agent: Agent,
    /// The HTTP method, or the command (`api-key create`).
    pub method: String,
    /// The request path (no query string), or the command's target.
    pub path: String,
    /// The query string of a search, as sent.
    pub query: Option<String>,
    pub patient_id: Option<String>,
    pub study_uid: Option<String>,
    pub series_uid: Option<String>,
    pub sop_uid: Option<String>,
    /// Why it failed (the 4xx/5xx reason), or what changed (the API key's name and roles).
    pub detail: Option<String>,
    /// The partition the request was about (`/dicom-web/partitions/{name}/...`); `None` for
    /// the default partition and for what is about no partition.
    pub partition: Option<String>,
}

impl AuditRecord {
    /// The record of an operator's command (`api-key create`, `import`, `check --repair`):
    /// the operating-system user who ran it is the agent, `target` what it worked on, and
    /// `detail` what it did.
    pub fn of_command(
        event: EventType,
        action: Action,
        outcome: Outcome,
        command: &str,
        target: &str,
        detail: String,
    ) -> AuditRecord {
        AuditRecord {
            id: 0,
            recorded_micros: crate::time::now_micros(),
            event,
            interaction: None,
            action,
            outcome,
            status: 0,
            agent: Agent {
                subject: std::env::var("USER")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .map(|u| format!("os-user:{u}")),
                ..Agent::default()
            },
            method: command.to_string(),
            path: target.to_string(),
            query: None,
            patient_id: None,
            study_uid: None,
            series_uid: None,
            sop_uid: None,
            detail: Some(detail),
            partition: None,
        }
    }
}
