//! A record as a DICOM audit message: the XML of DICOM PS3.15 Annex A.5 (schema in A.5.1,
//! field conventions in A.5.2, the messages of each event in A.5.3), which an IHE ATNA audit
//! record repository reads from syslog ([`super::syslog`]).
//!
//! <https://dicom.nema.org/medical/dicom/current/output/chtml/part15/sect_A.5.html>
//!
//! The coded values here (event types, participant roles) are also what
//! [`super::fhir`] puts in an AuditEvent: IHE BALP takes them from DICOM.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::record::{Action, AuditRecord, EventType, Outcome};
use crate::time::rfc3339_millis as instant;

/// A coded value: `csd-code`, `codeSystemName` and `originalText` in the XML, a Coding in
/// FHIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    /// `DCM` (DICOM PS3.16) or `RFC-3881`.
    pub scheme: &'static str,
    pub meaning: &'static str,
}

const fn dcm(code: &'static str, meaning: &'static str) -> Code {
    Code {
        code,
        scheme: "DCM",
        meaning,
    }
}

const fn rfc3881(code: &'static str, meaning: &'static str) -> Code {
    Code {
        code,
        scheme: "RFC-3881",
        meaning,
    }
}

pub const SOURCE_ROLE: Code = dcm("110153", "Source Role ID");
pub const DESTINATION_ROLE: Code = dcm("110152", "Destination Role ID");
pub const APPLICATION_ROLE: Code = dcm("110150", "Application");
pub const LOGIN: Code = dcm("110122", "Login");
pub const USE_OF_RESTRICTED_FUNCTION: Code = dcm("110132", "Use of Restricted Function");
pub const USER_SECURITY_ATTRIBUTES_CHANGED: Code =
    dcm("110137", "User Security Attributes Changed");
pub const SOFTWARE_CONFIGURATION: Code = dcm("110131", "Software Configuration");
pub const STUDY_INSTANCE_UID: Code = dcm("110180", "Study Instance UID");
const PATIENT_NUMBER: Code = rfc3881("2", "Patient Number");
const URI: Code = rfc3881("12", "URI");

/// The command of a schema migration's record (`tessera migrate`): a Security Alert of
/// Software Configuration.
pub const MIGRATE_COMMAND: &str = "migrate";

/// Whether a Security Alert reports a change of security attributes (an API key created or
/// revoked) rather than a refused request. A refusal never succeeds, and a command has no
/// HTTP status.
pub fn changes_security(record: &AuditRecord) -> bool {
    record.event == EventType::SecurityAlert
        && (record.outcome == Outcome::Success || record.status == 0)
}

/// The EventTypeCode: mandatory for User Authentication (A.5.3.11: Login, as every record
/// of it is a sign-in attempt) and Security Alert (A.5.3.12: from CID 403), absent otherwise.
pub fn event_type_code(record: &AuditRecord) -> Option<Code> {
    match record.event {
        EventType::UserAuthentication => Some(LOGIN),
        EventType::SecurityAlert if record.method == MIGRATE_COMMAND => {
            Some(SOFTWARE_CONFIGURATION)
        }
        EventType::SecurityAlert if changes_security(record) => {
            Some(USER_SECURITY_ATTRIBUTES_CHANGED)
        }
        EventType::SecurityAlert => Some(USE_OF_RESTRICTED_FUNCTION),
        _ => None,
    }
}

/// The client's RoleIDCode. As in DICOM (A.5.3.10 Query, A.5.3.5 Instances Transferred) and
/// IHE BALP, the client that sends a request is the source even when data flows back; only
/// a read makes it the destination (BALP Read), and a delete names it the application (BALP
/// Delete).
pub fn client_role(event: EventType) -> Code {
    match event {
        EventType::InstancesAccessed | EventType::Import => DESTINATION_ROLE,
        EventType::StudyDeleted => APPLICATION_ROLE,
        EventType::Export => SOURCE_ROLE,
        EventType::Query
        | EventType::InstancesTransferred
        | EventType::UserAuthentication
        | EventType::SecurityAlert => SOURCE_ROLE,
    }
}

/// Tessera's RoleIDCode: the other end of [`client_role`]. A deletion has none in DCM (BALP
/// calls the server its custodian, a code of HL7 v3).
pub fn server_role(event: EventType) -> Option<Code> {
    match event {
        EventType::InstancesAccessed => Some(SOURCE_ROLE),
        EventType::StudyDeleted | EventType::Import | EventType::Export => None,
        EventType::Query
        | EventType::InstancesTransferred
        | EventType::UserAuthentication
        | EventType::SecurityAlert => Some(DESTINATION_ROLE),
    }
}

/// The name under which a client is known: its subject, or nothing authenticated.
pub fn client_user_id(record: &AuditRecord) -> &str {
    record
        .agent
        .subject
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("unauthenticated")
}

/// NetworkAccessPointTypeCode (and FHIR agent.network.type): 2 for an IP address, 1 for a
/// machine name.
pub fn network_type(address: &str) -> &'static str {
    if address.parse::<IpAddr>().is_ok() {
        "2"
    } else {
        "1"
    }
}

/// The EventActionCode: the record's, except where A.5.3 fixes it (Query, User
/// Authentication and Security Alert: Execute; Study Deleted: Delete).
fn action(record: &AuditRecord) -> Action {
    match record.event {
        EventType::Query | EventType::UserAuthentication | EventType::SecurityAlert => {
            Action::Execute
        }
        EventType::StudyDeleted => Action::Delete,
        EventType::Import => Action::Create,
        EventType::Export => Action::Read,
        EventType::InstancesAccessed | EventType::InstancesTransferred => record.action,
    }
}

/// One XML element; rendering it is what keeps the message well formed.
struct Element {
    name: &'static str,
    attributes: Vec<(&'static str, String)>,
    children: Vec<Element>,
    text: Option<String>,
}

impl Element {
    fn new(name: &'static str) -> Element {
        Element {
            name,
            attributes: Vec::new(),
            children: Vec::new(),
            text: None,
        }
    }

    /// Adds an attribute; an empty value is left out (xsd:token attributes may not be empty
    /// where they are required, and say nothing where they are optional).
    fn attr(mut self, name: &'static str, value: impl Into<String>) -> Element {
        let value = value.into();
        if !value.is_empty() {
            self.attributes.push((name, value));
        }
        self
    }

    fn attr_opt(self, name: &'static str, value: Option<&str>) -> Element {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    fn child(mut self, child: Element) -> Element {
        self.children.push(child);
        self
    }

    fn text(mut self, text: &str) -> Element {
        self.text = Some(text.to_owned());
        self
    }

    fn code(name: &'static str, code: Code) -> Element {
        Element::new(name)
            .attr("csd-code", code.code)
            .attr("codeSystemName", code.scheme)
            .attr("originalText", code.meaning)
    }

    fn render(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attributes {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_into(value, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(text) = &self.text {
            escape_into(text, out);
        }
        for child in &self.children {
            child.render(out);
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }
}

/// Appends `text` escaped for XML content and attribute values. Characters XML 1.0 does not
/// allow at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD, and line breaks and tabs
/// are kept as character references so attribute normalization does not eat them.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

fn event_identification(record: &AuditRecord) -> Element {
    let mut event = Element::new("EventIdentification")
        .attr("EventActionCode", action(record).code())
        .attr("EventDateTime", instant(record.recorded_micros))
        .attr("EventOutcomeIndicator", record.outcome.code().to_string())
        .child(Element::code(
            "EventID",
            dcm(record.event.code(), record.event.display()),
        ));
    if let Some(code) = event_type_code(record) {
        event = event.child(Element::code("EventTypeCode", code));
    }
    match record.detail.as_deref() {
        Some(detail) if record.outcome != Outcome::Success && !detail.is_empty() => {
            event.child(Element::new("EventOutcomeDescription").text(detail))
        }
        _ => event,
    }
}

fn client(record: &AuditRecord) -> Element {
    let agent = &record.agent;
    let user_name = agent
        .api_key
        .as_deref()
        .map(|name| format!("api-key {name}"));
    let mut participant = Element::new("ActiveParticipant")
        .attr("UserID", client_user_id(record))
        .attr_opt("AlternativeUserID", agent.client_id.as_deref())
        .attr_opt("UserName", user_name.as_deref())
        .attr("UserIsRequestor", "true");
    if let Some(address) = agent.address.as_deref().filter(|a| !a.is_empty()) {
        participant = participant
            .attr("NetworkAccessPointID", address)
            .attr("NetworkAccessPointTypeCode", network_type(address));
    }
    participant.child(Element::code("RoleIDCode", client_role(record.event)))
}

fn server(record: &AuditRecord, source_id: &str) -> Element {
    let participant = Element::new("ActiveParticipant")
        .attr("UserID", source_id)
        .attr("UserIsRequestor", "false");
    match server_role(record.event) {
        Some(role) => participant.child(Element::code("RoleIDCode", role)),
        None => participant,
    }
}

fn base64_detail(kind: &str, value: &str) -> Element {
    Element::new("ParticipantObjectDetail")
        .attr("type", kind)
        .attr("value", BASE64.encode(value))
}

fn participant_objects(record: &AuditRecord) -> Vec<Element> {
    let mut objects = Vec::new();
    if let Some(patient) = record.patient_id.as_deref().filter(|p| !p.is_empty()) {
        objects.push(
            Element::new("ParticipantObjectIdentification")
                .attr("ParticipantObjectID", patient)
                .attr("ParticipantObjectTypeCode", "1")
                .attr("ParticipantObjectTypeCodeRole", "1")
                .child(Element::code("ParticipantObjectIDTypeCode", PATIENT_NUMBER)),
        );
    }
    if let Some(study) = record.study_uid.as_deref().filter(|s| !s.is_empty()) {
        // The series and instance have no place of their own in A.5: name them as details
        // (the SOPClass element would need the SOP Class UID, which a record does not keep).
        let mut object = Element::new("ParticipantObjectIdentification")
            .attr("ParticipantObjectID", study)
            .attr("ParticipantObjectTypeCode", "2")
            .attr("ParticipantObjectTypeCodeRole", "3")
            .child(Element::code(
                "ParticipantObjectIDTypeCode",
                STUDY_INSTANCE_UID,
            ));
        if let Some(series) = record.series_uid.as_deref().filter(|s| !s.is_empty()) {
            object = object.child(base64_detail("SeriesInstanceUID", series));
        }
        if let Some(sop) = record.sop_uid.as_deref().filter(|s| !s.is_empty()) {
            object = object.child(base64_detail("SOPInstanceUID", sop));
        }
        // The partition the study is in (none: the default partition).
        if let Some(partition) = record.partition.as_deref() {
            object = object.child(base64_detail("Partition", partition));
        }
        objects.push(object);
    }
    if let Some(query) = record.query.as_deref() {
        // A.5.3.10 names the SOP Class UID of a C-FIND; its note 2 lets a non-DICOM query
        // (QIDO-RS, a FHIR search) use its own identifier: the URI searched, with the RFC 3881
        // role Query as in IHE BALP and the query string itself, base64, as the query.
        objects.push(
            Element::new("ParticipantObjectIdentification")
                .attr("ParticipantObjectID", query_id(record))
                .attr("ParticipantObjectTypeCode", "2")
                .attr("ParticipantObjectTypeCodeRole", "24")
                .child(Element::code("ParticipantObjectIDTypeCode", URI))
                .child(Element::new("ParticipantObjectQuery").text(&BASE64.encode(query)))
                .child(base64_detail("QueryEncoding", "UTF-8")),
        );
    }
    if record.event == EventType::SecurityAlert {
        // A.5.3.12's Alert Subject: the API key changed or the function refused, with what
        // happened as its Alert Description.
        let mut subject = Element::new("ParticipantObjectIdentification")
            .attr("ParticipantObjectID", alert_subject(record))
            .attr("ParticipantObjectTypeCode", "2")
            .attr("ParticipantObjectTypeCodeRole", "13")
            .child(Element::code("ParticipantObjectIDTypeCode", URI));
        if let Some(detail) = record.detail.as_deref().filter(|d| !d.is_empty()) {
            subject = subject.child(base64_detail("Alert Description", detail));
        }
        objects.push(subject);
    }
    objects
}

/// What a query searched: its path, or its method when it has none.
fn query_id(record: &AuditRecord) -> &str {
    [record.path.as_str(), record.method.as_str()]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("query")
}

/// What a Security Alert is about: the request's path or the command's target.
pub fn alert_subject(record: &AuditRecord) -> &str {
    [record.path.as_str(), record.method.as_str()]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("security")
}

/// The DICOM audit message of a record, as an XML document. `source_id` is Tessera's
/// AuditSourceID, and its UserID among the active participants.
pub fn to_xml(record: &AuditRecord, source_id: &str) -> String {
    let source_id = if source_id.is_empty() {
        "tessera"
    } else {
        source_id
    };
    let mut message = Element::new("AuditMessage")
        .child(event_identification(record))
        .child(client(record))
        .child(server(record, source_id))
        .child(Element::new("AuditSourceIdentification").attr("AuditSourceID", source_id));
    for object in participant_objects(record) {
        message = message.child(object);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    message.render(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::samples;

    /// A minimal XML reader for the tests: checks that tags balance and that every `&`
    /// starts a known reference, and returns the start tags with their raw attributes.
    fn check_well_formed(xml: &str) -> Vec<String> {
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .expect("declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut starts = Vec::new();
        let mut rest = body;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "unbalanced </{name}>");
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag.split(' ').next().unwrap_or_default().to_string();
                check_attributes(tag);
                starts.push(tag.to_string());
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(rest.is_empty() && stack.is_empty(), "left open: {stack:?}");
        starts
    }

    fn check_text(text: &str) {
        assert!(!text.contains('>') && !text.contains('"') && !text.contains('\''));
        let mut parts = text.split('&');
        parts.next();
        for part in parts {
            let (name, _) = part.split_once(';').expect("unterminated reference");
            assert!(
                ["amp", "lt", "gt", "quot", "apos", "#10", "#13", "#9"].contains(&name),
                "unknown reference &{name};"
            );
        }
    }

    /// Attribute values are quoted with `"` and hold no `"`, `<` or bare `&`.
    fn check_attributes(tag: &str) {
        let mut quotes = 0;
        for c in tag.chars() {
            if c == '"' {
                quotes += 1;
            }
        }
        assert_eq!(quotes % 2, 0, "odd quotes in {tag}");
        for value in tag.split('"').skip(1).step_by(2) {
            check_text(value);
        }
    }

    fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')? + start;
        Some(&tag[start..end])
    }

    fn tags<'a>(starts: &'a [String], name: &str) -> Vec<&'a str> {
        starts
            .iter()
            .filter(|t| t.split(' ').next() == Some(name))
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn escapes_what_xml_reserves() {
        let mut record = samples::stow();
        record.patient_id = Some("<PAT&\"1'>\u{1}".into());
        record.agent.subject = Some("a\"b<c>".into());
        let xml = to_xml(&record, "tessera@pacs");
        let starts = check_well_formed(&xml);
        assert!(xml.contains("ParticipantObjectID=\"&lt;PAT&amp;&quot;1&apos;&gt;\u{fffd}\""));
        assert!(xml.contains("UserID=\"a&quot;b&lt;c&gt;\""));
        let participants = tags(&starts, "ParticipantObjectIdentification");
        assert_eq!(participants.len(), 2);
    }

    #[test]
    fn commands_have_their_codes_and_roles() {
        let code = |r: &AuditRecord| event_type_code(r).map(|c| c.code);
        assert_eq!(code(&samples::migrate()), Some(SOFTWARE_CONFIGURATION.code));
        assert_eq!(
            code(&samples::api_key_created()),
            Some(USER_SECURITY_ATTRIBUTES_CHANGED.code)
        );
        assert_eq!(code(&samples::import()), None);
        assert_eq!(client_role(EventType::Import).code, DESTINATION_ROLE.code);
        assert_eq!(client_role(EventType::Export).code, SOURCE_ROLE.code);
        assert_eq!(action(&samples::import()), Action::Create);
    }

    #[test]
    fn every_sample_has_the_required_fields() {
        for (name, record) in samples::all() {
            let xml = to_xml(&record, "tessera@pacs");
            let starts = check_well_formed(&xml);
            let event = tags(&starts, "EventIdentification");
            assert_eq!(event.len(), 1, "{name}");
            for attr in ["EventActionCode", "EventDateTime", "EventOutcomeIndicator"] {
                assert!(attribute(event[0], attr).is_some(), "{name}: {attr}");
            }
            assert_eq!(
                attribute(event[0], "EventDateTime"),
                Some("2024-02-29T12:00:00.123Z")
            );
            let id = tags(&starts, "EventID");
            assert_eq!(attribute(id[0], "csd-code"), Some(record.event.code()));
            assert_eq!(attribute(id[0], "codeSystemName"), Some("DCM"));
            assert_eq!(
                attribute(id[0], "originalText"),
                Some(record.event.display())
            );
            let participants = tags(&starts, "ActiveParticipant");
            assert_eq!(participants.len(), 2, "{name}");
            assert_eq!(attribute(participants[0], "UserIsRequestor"), Some("true"));
            assert_eq!(attribute(participants[1], "UserIsRequestor"), Some("false"));
            assert_eq!(attribute(participants[1], "UserID"), Some("tessera@pacs"));
            for p in &participants {
                assert!(
                    attribute(p, "UserID").is_some_and(|u| !u.is_empty()),
                    "{name}"
                );
            }
            let source = tags(&starts, "AuditSourceIdentification");
            assert_eq!(attribute(source[0], "AuditSourceID"), Some("tessera@pacs"));
            for code in tags(&starts, "RoleIDCode")
                .into_iter()
                .chain(tags(&starts, "ParticipantObjectIDTypeCode"))
                .chain(tags(&starts, "EventTypeCode"))
            {
                for attr in ["csd-code", "codeSystemName", "originalText"] {
                    assert!(attribute(code, attr).is_some(), "{name}: {code}");
                }
            }
            for object in tags(&starts, "ParticipantObjectIdentification") {
                assert!(attribute(object, "ParticipantObjectID").is_some(), "{name}");
            }
        }
    }

    #[test]
    fn each_event_as_a_3_specifies() {
        let stow = to_xml(&samples::stow(), "t");
        assert!(stow.contains("EventActionCode=\"C\""));
        assert!(stow.contains(
            "<RoleIDCode csd-code=\"110153\" codeSystemName=\"DCM\" originalText=\"Source Role ID\"/>"
        ));
        assert!(stow.contains(
            "<ParticipantObjectIdentification ParticipantObjectID=\"PAT-001\" \
             ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\">\
             <ParticipantObjectIDTypeCode csd-code=\"2\" codeSystemName=\"RFC-3881\" \
             originalText=\"Patient Number\"/>"
        ));
        assert!(stow.contains(&format!(
            "ParticipantObjectID=\"{}\" ParticipantObjectTypeCode=\"2\" \
             ParticipantObjectTypeCodeRole=\"3\"><ParticipantObjectIDTypeCode \
             csd-code=\"110180\" codeSystemName=\"DCM\" originalText=\"Study Instance UID\"/>",
            samples::STUDY
        )));
        assert!(stow.contains(&format!(
            "<ParticipantObjectDetail type=\"SOPInstanceUID\" value=\"{}\"/>",
            BASE64.encode(samples::SOP)
        )));
        assert!(
            stow.contains("NetworkAccessPointID=\"192.0.2.10\" NetworkAccessPointTypeCode=\"2\"")
        );
        assert!(stow.contains("AlternativeUserID=\"ohif-viewer\""));

        let qido = samples::qido();
        let xml = to_xml(&qido, "t");
        assert!(xml.contains("EventActionCode=\"E\""));
        assert!(xml.contains(&format!(
            "<ParticipantObjectQuery>{}</ParticipantObjectQuery>",
            BASE64.encode(qido.query.as_deref().unwrap_or_default())
        )));
        assert!(xml.contains("ParticipantObjectTypeCodeRole=\"24\""));

        let frames = to_xml(&samples::frames(), "t");
        assert!(frames.contains("EventActionCode=\"R\""));
        assert!(frames.contains("UserName=\"api-key reading-room\""));
        assert!(frames
            .contains("NetworkAccessPointID=\"2001:db8::7\" NetworkAccessPointTypeCode=\"2\""));
        assert!(frames.contains("csd-code=\"110152\"")); // the client receives

        let delete = to_xml(&samples::delete(), "t");
        assert!(delete.contains("EventActionCode=\"D\""));
        assert!(delete.contains("csd-code=\"110105\""));

        let failed = to_xml(&samples::failed_authentication(), "t");
        assert!(failed.contains("EventOutcomeIndicator=\"4\""));
        assert!(failed.contains(
            "<EventTypeCode csd-code=\"110122\" codeSystemName=\"DCM\" originalText=\"Login\"/>"
        ));
        assert!(failed.contains("<EventOutcomeDescription>token expired</EventOutcomeDescription>"));
        assert!(failed.contains("UserID=\"unauthenticated\""));

        let key = samples::api_key_created();
        let xml = to_xml(&key, "t");
        assert!(xml.contains("csd-code=\"110113\""));
        assert!(xml.contains("<EventTypeCode csd-code=\"110137\""));
        assert!(!xml.contains("EventOutcomeDescription"));
        assert!(xml.contains(&format!(
            "<ParticipantObjectDetail type=\"Alert Description\" value=\"{}\"/>",
            BASE64.encode(key.detail.as_deref().unwrap_or_default())
        )));
        assert!(!xml.contains("NetworkAccessPointID"));

        let mut refused = samples::frames();
        refused.event = EventType::SecurityAlert;
        refused.outcome = Outcome::MinorFailure;
        refused.status = 403;
        assert!(to_xml(&refused, "t").contains("<EventTypeCode csd-code=\"110132\""));
    }
}
