//! One DICOM study as a FHIR R4 (4.0.1) ImagingStudy, built from the index's instance rows
//! (a pure function: the push to an external FHIR server reuses it).
//!
//! Study and patient attributes come from the first instance of the study, series
//! attributes from the first instance of each series (rows arrive in series and instance
//! number order); counts, modalities and the instance list from the rows themselves, so the
//! resource reflects what the archive holds now. Absent or empty DICOM values are left out
//! (FHIR forbids empty strings, arrays and objects). Decisions are listed in the README
//! ("FHIR") and in docs on the functions below.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::codes;
use super::datetime;
use super::endpoint::ENDPOINT_ID;
use super::names;
use super::values::{self, DicomJson};
use crate::index::InstanceRow;

/// Settings the mapping needs.
#[derive(Debug, Clone, Default)]
pub struct MappingOptions {
    /// `subject.identifier.system` for a PatientID without an issuer in the data set
    /// (`--fhir-patient-id-system`); without it such identifiers carry no system.
    pub patient_id_system: Option<String>,
}

/// The FHIR id of a study's ImagingStudy: the StudyInstanceUID itself. A UID is at most 64
/// digits and dots, so it always fits FHIR's `[A-Za-z0-9\-\.]{1,64}`; it is stable and can
/// be turned back into the UID without a lookup table.
pub fn resource_id(study_uid: &str) -> String {
    study_uid.to_string()
}

/// The `urn:dicom:uid` identifier of a study.
pub fn study_identifier(study_uid: &str) -> Value {
    json!({ "system": codes::DICOM_UID, "value": format!("urn:oid:{study_uid}") })
}

/// An issuer (a sequence item with LocalNamespaceEntityID, UniversalEntityID and its type)
/// as an identifier system: a UniversalEntityID of type ISO as `urn:oid:`, of type URI as is,
/// of type UUID as `urn:uuid:`; else the LocalNamespaceEntityID.
fn issuer_from_item(item: &DicomJson) -> Option<String> {
    let universal = values::text(item, "00400032");
    let kind = values::text(item, "00400033").map(|k| k.to_ascii_uppercase());
    match (universal, kind.as_deref()) {
        (Some(id), Some("ISO")) if id.chars().all(|c| c.is_ascii_digit() || c == '.') => {
            Some(format!("urn:oid:{id}"))
        }
        (Some(id), Some("URI")) => Some(id),
        (Some(id), Some("UUID")) => Some(format!("urn:uuid:{}", id.to_ascii_lowercase())),
        _ => values::text(item, "00400031"),
    }
}

/// An identifier with an issuer: the issuer becomes `system` when it is usable as a URI (no
/// white space), else `assigner.display` (FHIR's `uri` cannot hold white space).
fn with_issuer(mut identifier: Map<String, Value>, issuer: Option<String>) -> Value {
    if let Some(issuer) = issuer {
        if issuer.contains(char::is_whitespace) {
            identifier.insert("assigner".into(), json!({ "display": issuer }));
        } else {
            identifier.insert("system".into(), json!(issuer));
        }
    }
    Value::Object(identifier)
}

/// The accession number identifier (type ACSN, system from IssuerOfAccessionNumberSequence).
pub fn accession_identifier(first: &DicomJson) -> Option<Value> {
    let accession = values::text(first, "00080050")?;
    let issuer = values::first_item(first, "00080051").and_then(|i| issuer_from_item(&i));
    let mut identifier = Map::new();
    identifier.insert("type".into(), codes::accession_type());
    identifier.insert("value".into(), json!(accession));
    Some(with_issuer(identifier, issuer))
}

/// `subject`: the patient by identifier (system from IssuerOfPatientIDQualifiersSequence,
/// else IssuerOfPatientID, else the configured system), with the name as display. Without
/// PatientID and name, a data-absent-reason extension (subject is required).
fn subject(first: &DicomJson, options: &MappingOptions) -> Value {
    let mut subject = Map::new();
    if let Some(id) = values::text(first, "00100020") {
        let issuer = values::first_item(first, "00100024")
            .and_then(|i| issuer_from_item(&i))
            .or_else(|| values::text(first, "00100021"))
            .or_else(|| options.patient_id_system.clone());
        let mut identifier = Map::new();
        identifier.insert("value".into(), json!(id));
        subject.insert("identifier".into(), with_issuer(identifier, issuer));
    }
    if let Some(name) = values::person_name(first, "00100010").and_then(|g| names::display(&g)) {
        subject.insert("display".into(), json!(name));
    }
    if subject.is_empty() {
        subject.insert(
            "extension".into(),
            json!([{ "url": codes::DATA_ABSENT, "valueCode": "unknown" }]),
        );
    }
    Value::Object(subject)
}

/// A document title where the instance has one: DocumentTitle, else the meaning of its
/// ConceptNameCodeSequence (SR documents, encapsulated documents).
fn instance_title(row: &InstanceRow) -> Option<String> {
    if !row.metadata.contains("\"00420010\"") && !row.metadata.contains("\"0040A043\"") {
        return None;
    }
    let data = values::parse(&row.metadata);
    values::text(&data, "00420010").or_else(|| {
        values::first_item(&data, "0040A043").and_then(|item| values::text(&item, "00080104"))
    })
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.into(), value);
    }
}

fn unsigned(n: Option<i64>) -> Option<Value> {
    n.filter(|n| *n >= 0).map(|n| json!(n))
}

fn series_json(rows: &[&InstanceRow]) -> (Value, Option<String>) {
    let first = values::parse(&rows[0].metadata);
    let modality = values::text(&first, "00080060");
    let mut series = Map::new();
    series.insert("uid".into(), json!(rows[0].series_uid));
    put(
        &mut series,
        "number",
        unsigned(values::integer(&first, "00200011")),
    );
    series.insert(
        "modality".into(),
        modality
            .as_deref()
            .map(codes::modality)
            .unwrap_or_else(codes::absent_coding),
    );
    put(
        &mut series,
        "description",
        values::text(&first, "0008103E").map(Value::from),
    );
    series.insert("numberOfInstances".into(), json!(rows.len()));
    put(
        &mut series,
        "bodySite",
        values::text(&first, "00180015").map(|v| codes::body_site(&v)),
    );
    put(
        &mut series,
        "laterality",
        values::text(&first, "00200060").map(|v| codes::laterality(&v)),
    );
    put(
        &mut series,
        "started",
        datetime::date_time(
            values::text(&first, "00080021").as_deref(),
            values::text(&first, "00080031").as_deref(),
            values::text(&first, "00080201").as_deref(),
        )
        .map(Value::from),
    );
    let instances: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut instance = Map::new();
            instance.insert("uid".into(), json!(row.sop_uid));
            instance.insert("sopClass".into(), codes::sop_class(&row.sop_class_uid));
            put(&mut instance, "number", unsigned(row.instance_number));
            put(&mut instance, "title", instance_title(row).map(Value::from));
            Value::Object(instance)
        })
        .collect();
    series.insert("instance".into(), Value::Array(instances));
    (Value::Object(series), modality)
}

/// The ImagingStudy of one study from all its instance rows (as
/// `Index::instances_of(study, None, None)` returns them); `None` when there are none.
pub fn imaging_study(rows: &[InstanceRow], options: &MappingOptions) -> Option<Value> {
    let first_row = rows.first()?;
    let first = values::parse(&first_row.metadata);
    let study_uid = &first_row.study_uid;

    // Series in the order the rows come (series number order), instances within each.
    let mut order: Vec<&str> = Vec::new();
    let mut by_series: HashMap<&str, Vec<&InstanceRow>> = HashMap::new();
    for row in rows {
        let list = by_series.entry(row.series_uid.as_str()).or_default();
        if list.is_empty() {
            order.push(row.series_uid.as_str());
        }
        list.push(row);
    }
    let mut modalities: Vec<String> = Vec::new();
    let mut series = Vec::with_capacity(order.len());
    for uid in &order {
        let (json, modality) = series_json(&by_series[uid]);
        if let Some(m) = modality {
            if !modalities.contains(&m) {
                modalities.push(m);
            }
        }
        series.push(json);
    }

    let mut study = Map::new();
    study.insert("resourceType".into(), json!("ImagingStudy"));
    study.insert("id".into(), json!(resource_id(study_uid)));
    let updated = rows.iter().map(|r| r.updated_at).max().unwrap_or_default();
    study.insert(
        "meta".into(),
        json!({ "lastUpdated": datetime::instant(updated) }),
    );
    let accession = accession_identifier(&first);
    let mut identifiers = vec![study_identifier(study_uid)];
    identifiers.extend(accession.clone());
    study.insert("identifier".into(), Value::Array(identifiers));
    // Only studies in the archive are mapped: a deleted one answers 410 Gone (fhir/service.rs).
    study.insert("status".into(), json!("available"));
    if !modalities.is_empty() {
        study.insert(
            "modality".into(),
            Value::Array(modalities.iter().map(|m| codes::modality(m)).collect()),
        );
    }
    study.insert("subject".into(), subject(&first, options));
    put(
        &mut study,
        "started",
        datetime::date_time(
            values::text(&first, "00080020").as_deref(),
            values::text(&first, "00080030").as_deref(),
            values::text(&first, "00080201").as_deref(),
        )
        .map(Value::from),
    );
    if let Some(accession) = accession {
        study.insert(
            "basedOn".into(),
            json!([{ "type": "ServiceRequest", "identifier": accession }]),
        );
    }
    put(
        &mut study,
        "referrer",
        values::person_name(&first, "00080090")
            .and_then(|g| names::display(&g))
            .map(|name| json!({ "display": name })),
    );
    study.insert(
        "endpoint".into(),
        json!([{ "reference": format!("Endpoint/{ENDPOINT_ID}") }]),
    );
    study.insert("numberOfSeries".into(), json!(order.len()));
    study.insert("numberOfInstances".into(), json!(rows.len()));
    put(
        &mut study,
        "description",
        values::text(&first, "00081030").map(Value::from),
    );
    study.insert("series".into(), Value::Array(series));
    Some(Value::Object(study))
}
