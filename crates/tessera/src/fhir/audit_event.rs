//! A record as a FHIR R4 AuditEvent, following IHE Basic Audit Log Patterns (BALP).
//!
//! - <https://hl7.org/fhir/R4/auditevent.html>
//! - <https://profiles.ihe.net/ITI/BALP/>
//!
//! BALP takes the event types and participant roles from DICOM, so the codes come from
//! [`crate::audit::dicom_message`]; only what BALP adds of its own (the custodian of a deletion, the
//! coding systems' URLs) is here.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::datetime::instant;
use crate::audit::dicom_message::{self as dicom, Code};
use crate::audit::record::{AuditRecord, EventType, Outcome};

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// A DICOM code as a Coding; its scheme is DCM wherever this module uses one.
fn dcm_coding(code: Code) -> Value {
    coding(DCM, code.code, code.meaning)
}

/// Inserts `value` under `key` unless it is absent or empty: FHIR forbids empty strings.
fn put(object: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        object.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

fn subtypes(record: &AuditRecord) -> Vec<Value> {
    let mut subtypes = Vec::new();
    if let Some(interaction) = record.interaction {
        subtypes.push(json!({ "system": RESTFUL_INTERACTION, "code": interaction.code() }));
    }
    if let Some(code) = dicom::event_type_code(record) {
        subtypes.push(dcm_coding(code));
    }
    subtypes
}

/// The caller, as far as authentication got.
fn client_agent(record: &AuditRecord) -> Value {
    let agent = &record.agent;
    let mut who = Map::new();
    if let Some(subject) = agent.subject.as_deref().filter(|s| !s.is_empty()) {
        let mut identifier = Map::new();
        put(&mut identifier, "system", agent.issuer.as_deref());
        put(&mut identifier, "value", Some(subject));
        who.insert("identifier".into(), Value::Object(identifier));
    }
    put(&mut who, "display", Some(dicom::client_user_id(record)));

    let mut out = Map::new();
    out.insert(
        "type".into(),
        json!({ "coding": [dcm_coding(dicom::client_role(record.event))] }),
    );
    out.insert("who".into(), Value::Object(who));
    put(&mut out, "altId", agent.client_id.as_deref());
    let key_name = agent
        .api_key
        .as_deref()
        .map(|name| format!("api-key {name}"));
    put(&mut out, "name", key_name.as_deref());
    out.insert("requestor".into(), Value::Bool(true));
    if let Some(address) = agent.address.as_deref().filter(|a| !a.is_empty()) {
        out.insert(
            "network".into(),
            json!({ "address": address, "type": dicom::network_type(address) }),
        );
    }
    Value::Object(out)
}

/// Tessera itself. BALP calls the server of a deletion its custodian (HL7 v3 CST).
fn server_agent(record: &AuditRecord, observer: &str) -> Value {
    let role = match dicom::server_role(record.event) {
        Some(code) => dcm_coding(code),
        None => coding(PARTICIPATION_TYPE, "CST", "custodian"),
    };
    json!({
        "type": { "coding": [role] },
        "who": { "display": observer },
        "requestor": false,
    })
}

fn entity(
    type_code: &str,
    type_display: &str,
    role: &str,
    role_display: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("type".into(), coding(ENTITY_TYPE, type_code, type_display));
    out.insert("role".into(), coding(OBJECT_ROLE, role, role_display));
    out
}

fn entities(record: &AuditRecord) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(patient) = record.patient_id.as_deref().filter(|p| !p.is_empty()) {
        let mut e = entity("1", "Person", "1", "Patient");
        e.insert("what".into(), json!({ "identifier": { "value": patient } }));
        out.push(Value::Object(e));
    }
    if let Some(study) = record.study_uid.as_deref().filter(|s| !s.is_empty()) {
        // DICOM's study participant: a system object in the role of a report (PS3.15 A.5.3).
        let mut e = entity("2", "System Object", "3", "Report");
        e.insert(
            "what".into(),
            json!({ "identifier": {
                "type": { "coding": [dcm_coding(dicom::STUDY_INSTANCE_UID)] },
                "system": "urn:dicom:uid",
                "value": format!("urn:oid:{study}"),
            }}),
        );
        let details: Vec<Value> = [
            ("SeriesInstanceUID", record.series_uid.as_deref()),
            ("SOPInstanceUID", record.sop_uid.as_deref()),
            // The partition the study is in (none: the default partition).
            ("Partition", record.partition.as_deref()),
        ]
        .into_iter()
        .filter_map(|(kind, uid)| {
            uid.filter(|u| !u.is_empty())
                .map(|u| json!({ "type": kind, "valueString": u }))
        })
        .collect();
        if !details.is_empty() {
            e.insert("detail".into(), Value::Array(details));
        }
        out.push(Value::Object(e));
    }
    if let Some(query) = record.query.as_deref() {
        // sev-1: an entity has a name or a query, never both; the request goes in the
        // description.
        let mut e = entity("2", "System Object", "24", "Query");
        e.insert("query".into(), Value::String(BASE64.encode(query)));
        let request = format!("{} {}", record.method, record.path);
        put(&mut e, "description", Some(request.trim()));
        out.push(Value::Object(e));
    }
    if record.event == EventType::SecurityAlert {
        let mut e = entity("2", "System Object", "13", "Security Resource");
        e.insert(
            "what".into(),
            json!({ "display": dicom::alert_subject(record) }),
        );
        put(&mut e, "description", record.detail.as_deref());
        out.push(Value::Object(e));
    }
    out
}

/// The AuditEvent of a record. `observer` names this Tessera (its host or service name): the
/// server agent and the event's source.
pub fn audit_event(record: &AuditRecord, observer: &str) -> Value {
    let observer = if observer.is_empty() {
        "tessera"
    } else {
        observer
    };
    let mut event = Map::new();
    event.insert("resourceType".into(), json!("AuditEvent"));
    event.insert("id".into(), Value::String(record.id.to_string()));
    event.insert(
        "type".into(),
        coding(DCM, record.event.code(), record.event.display()),
    );
    let subtypes = subtypes(record);
    if !subtypes.is_empty() {
        event.insert("subtype".into(), Value::Array(subtypes));
    }
    event.insert("action".into(), json!(record.action.code()));
    event.insert("recorded".into(), json!(instant(record.recorded_micros)));
    event.insert("outcome".into(), json!(record.outcome.code().to_string()));
    if record.outcome != Outcome::Success {
        put(&mut event, "outcomeDesc", record.detail.as_deref());
    }
    event.insert(
        "agent".into(),
        json!([client_agent(record), server_agent(record, observer)]),
    );
    event.insert(
        "source".into(),
        json!({
            "observer": { "display": observer },
            "type": [coding(SOURCE_TYPE, "4", "Application Server")],
        }),
    );
    let entities = entities(record);
    if !entities.is_empty() {
        event.insert("entity".into(), Value::Array(entities));
    }
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::samples;

    const OBSERVER: &str = "tessera.example.org";

    fn codes(values: &Value) -> Vec<&str> {
        values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["code"].as_str())
            .collect()
    }

    /// Every string anywhere in the resource is non-empty (FHIR: a primitive's value SHALL
    /// NOT be empty) and there are no empty objects or arrays.
    fn assert_no_empty(value: &Value, at: &str) {
        match value {
            Value::String(s) => assert!(!s.is_empty(), "empty string at {at}"),
            Value::Array(items) => {
                assert!(!items.is_empty(), "empty array at {at}");
                for (i, item) in items.iter().enumerate() {
                    assert_no_empty(item, &format!("{at}[{i}]"));
                }
            }
            Value::Object(fields) => {
                assert!(!fields.is_empty(), "empty object at {at}");
                for (key, field) in fields {
                    assert_no_empty(field, &format!("{at}.{key}"));
                }
            }
            _ => {}
        }
    }

    fn entity_with_role<'a>(event: &'a Value, role: &str) -> Option<&'a Value> {
        event["entity"]
            .as_array()?
            .iter()
            .find(|e| e["role"]["code"] == role)
    }

    #[test]
    fn stow() {
        let event = audit_event(&samples::stow(), OBSERVER);
        assert_no_empty(&event, "AuditEvent");
        assert_eq!(event["resourceType"], "AuditEvent");
        assert_eq!(event["id"], "42");
        assert_eq!(event["type"]["system"], DCM);
        assert_eq!(event["type"]["code"], "110104");
        assert_eq!(event["type"]["display"], "DICOM Instances Transferred");
        assert_eq!(codes(&event["subtype"]), ["create"]);
        assert_eq!(event["subtype"][0]["system"], RESTFUL_INTERACTION);
        assert_eq!(event["action"], "C");
        assert_eq!(event["recorded"], "2024-02-29T12:00:00.123Z");
        assert_eq!(event["outcome"], "0");
        assert!(event.get("outcomeDesc").is_none());

        let client = &event["agent"][0];
        assert_eq!(client["requestor"], true);
        assert_eq!(client["type"]["coding"][0]["code"], "110153");
        assert_eq!(
            client["who"]["identifier"]["system"],
            "https://idp.example.org/realms/imaging"
        );
        assert_eq!(
            client["who"]["identifier"]["value"],
            "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        );
        assert_eq!(client["altId"], "ohif-viewer");
        assert_eq!(
            client["network"],
            json!({ "address": "192.0.2.10", "type": "2" })
        );
        assert!(client.get("name").is_none());
        let server = &event["agent"][1];
        assert_eq!(server["requestor"], false);
        assert_eq!(server["who"]["display"], OBSERVER);
        assert_eq!(server["type"]["coding"][0]["code"], "110152");
        assert_eq!(event["source"]["observer"]["display"], OBSERVER);
        assert_eq!(event["source"]["type"][0]["code"], "4");

        let patient = entity_with_role(&event, "1").expect("patient");
        assert_eq!(patient["what"]["identifier"]["value"], "PAT-001");
        assert_eq!(patient["type"]["code"], "1");
        assert_eq!(patient["type"]["system"], ENTITY_TYPE);
        let study = entity_with_role(&event, "3").expect("study");
        assert_eq!(study["type"]["code"], "2");
        assert_eq!(study["what"]["identifier"]["system"], "urn:dicom:uid");
        assert_eq!(
            study["what"]["identifier"]["value"],
            format!("urn:oid:{}", samples::STUDY)
        );
        assert_eq!(study["detail"][0]["type"], "SeriesInstanceUID");
        assert_eq!(study["detail"][0]["valueString"], samples::SERIES);
        assert_eq!(study["detail"][1]["type"], "SOPInstanceUID");
        assert_eq!(study["detail"][1]["valueString"], samples::SOP);
        assert!(entity_with_role(&event, "24").is_none());
    }

    #[test]
    fn qido() {
        let record = samples::qido();
        let event = audit_event(&record, OBSERVER);
        assert_no_empty(&event, "AuditEvent");
        assert_eq!(event["type"]["code"], "110112");
        assert_eq!(codes(&event["subtype"]), ["search-type"]);
        assert_eq!(event["action"], "E");
        assert_eq!(event["agent"][0]["type"]["coding"][0]["code"], "110153");
        assert_eq!(event["agent"][1]["type"]["coding"][0]["code"], "110152");
        let query = entity_with_role(&event, "24").expect("query");
        assert_eq!(query["type"]["code"], "2");
        let encoded = query["query"].as_str().unwrap_or_default();
        let decoded = BASE64.decode(encoded).expect("base64");
        assert_eq!(decoded, record.query.unwrap_or_default().as_bytes());
        assert_eq!(query["description"], "GET /dicomweb/studies");
        assert!(query.get("name").is_none()); // sev-1
        assert!(entity_with_role(&event, "3").is_none());
        assert!(entity_with_role(&event, "1").is_some());
    }

    #[test]
    fn frame_read() {
        let event = audit_event(&samples::frames(), OBSERVER);
        assert_no_empty(&event, "AuditEvent");
        assert_eq!(event["type"]["code"], "110103");
        assert_eq!(codes(&event["subtype"]), ["read"]);
        assert_eq!(event["action"], "R");
        let client = &event["agent"][0];
        // BALP Read: the client is the destination, the server the source.
        assert_eq!(client["type"]["coding"][0]["code"], "110152");
        assert_eq!(event["agent"][1]["type"]["coding"][0]["code"], "110153");
        assert_eq!(client["name"], "api-key reading-room");
        assert_eq!(client["who"]["identifier"]["value"], "api-key:reading-room");
        assert!(client["who"]["identifier"].get("system").is_none());
        assert!(client.get("altId").is_none());
        assert_eq!(client["network"]["address"], "2001:db8::7");
        assert_eq!(client["network"]["type"], "2");
        let study = entity_with_role(&event, "3").expect("study");
        assert_eq!(study["detail"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn delete() {
        let event = audit_event(&samples::delete(), OBSERVER);
        assert_no_empty(&event, "AuditEvent");
        assert_eq!(event["type"]["code"], "110105");
        assert_eq!(codes(&event["subtype"]), ["delete"]);
        assert_eq!(event["action"], "D");
        assert_eq!(event["agent"][0]["type"]["coding"][0]["code"], "110150");
        let server = &event["agent"][1]["type"]["coding"][0];
        assert_eq!(server["system"], PARTICIPATION_TYPE);
        assert_eq!(server["code"], "CST");
        let study = entity_with_role(&event, "3").expect("study");
        assert!(study.get("detail").is_none());
    }

    #[test]
    fn failed_authentication() {
        let event = audit_event(&samples::failed_authentication(), OBSERVER);
        assert_no_empty(&event, "AuditEvent");
        assert_eq!(event["type"]["code"], "110114");
        assert_eq!(codes(&event["subtype"]), ["search-type", "110122"]);
        assert_eq!(event["outcome"], "4");
        assert_eq!(event["outcomeDesc"], "token expired");
        let client = &event["agent"][0];
        assert_eq!(client["who"], json!({ "display": "unauthenticated" }));
        assert!(client.get("altId").is_none());
        assert_eq!(client["network"]["address"], "198.51.100.23");
        assert!(event.get("entity").is_none());
    }

    #[test]
    fn api_key_change() {
        let record = samples::api_key_created();
        let event = audit_event(&record, OBSERVER);
        assert_no_empty(&event, "AuditEvent");
        assert_eq!(event["type"]["code"], "110113");
        assert_eq!(codes(&event["subtype"]), ["110137"]);
        assert_eq!(event["action"], "C");
        assert_eq!(event["outcome"], "0");
        assert!(event.get("outcomeDesc").is_none());
        let client = &event["agent"][0];
        assert!(client.get("network").is_none());
        let subject = entity_with_role(&event, "13").expect("security resource");
        assert_eq!(subject["what"]["display"], "reading-room");
        assert_eq!(subject["description"], record.detail.unwrap_or_default());
    }
}
