//! DIMSE operations in the audit trail, as HTTP requests are (see `http::guard`): who (the
//! calling AE title and its address), what (the DIMSE command as the method, Tessera's AE
//! title as the path), which study, and how it ended (the DIMSE status in the detail).

use std::net::SocketAddr;

use crate::audit::record::{Action, Agent, AuditRecord, EventType, Outcome};
use crate::time::now_micros;
use tessera_dicom::status::StatusCode;

use super::DimseService;

/// Who called: the AE title as the subject (`ae:TITLE`), the address.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ae_title: String,
    pub address: SocketAddr,
}

impl Caller {
    fn agent(&self) -> Agent {
        Agent {
            subject: Some(format!("ae:{}", self.ae_title.trim())),
            address: Some(self.address.ip().to_string()),
            ..Agent::default()
        }
    }
}

/// The outcome of a DIMSE status: success and warnings 0, refusals minor, resource and
/// processing failures serious.
pub fn outcome(status: StatusCode) -> Outcome {
    match status.0 {
        0x0000 | 0xB000..=0xBFFF | 0xFE00 => Outcome::Success,
        0xA700..=0xA7FF | 0x0110 => Outcome::SeriousFailure,
        _ => Outcome::MinorFailure,
    }
}

/// One record of an operation.
pub struct Operation<'a> {
    pub caller: &'a Caller,
    pub command: &'a str,
    pub event: EventType,
    pub action: Action,
    pub status: StatusCode,
    pub study: Option<String>,
    pub query: Option<String>,
    pub detail: Option<String>,
}

impl Operation<'_> {
    pub fn record(&self, service: &DimseService) -> AuditRecord {
        let status_text = format!("DIMSE status {:04X}", self.status.0);
        AuditRecord {
            id: 0,
            recorded_micros: now_micros(),
            event: self.event,
            interaction: None,
            action: self.action,
            outcome: outcome(self.status),
            status: 0,
            agent: self.caller.agent(),
            method: self.command.to_string(),
            path: format!("dimse:{}", service.settings.ae_title),
            query: self.query.clone(),
            patient_id: None,
            study_uid: self.study.clone(),
            series_uid: None,
            sop_uid: None,
            detail: Some(match &self.detail {
                Some(detail) => format!("{status_text}: {detail}"),
                None => status_text,
            }),
            // DIMSE serves the default partition only.
            partition: None,
        }
    }
}

/// A refused association (unknown AE title, limit reached): a security alert.
pub async fn association_refused(service: &DimseService, address: SocketAddr, why: &str) {
    let caller = Caller {
        ae_title: String::new(),
        address,
    };
    let mut record = Operation {
        caller: &caller,
        command: "A-ASSOCIATE",
        event: EventType::SecurityAlert,
        action: Action::Execute,
        status: StatusCode::NOT_AUTHORIZED,
        study: None,
        query: None,
        detail: Some(format!("association rejected: {why}")),
    }
    .record(service);
    record.agent.subject = None;
    service.trail.record_later(record).await;
}
