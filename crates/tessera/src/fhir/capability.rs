//! The CapabilityStatement answered at `GET /fhir/metadata`.

use serde_json::{json, Value};

/// When this statement's content last changed (CapabilityStatement.date is required).
const DATE: &str = "2026-11-27";

fn param(name: &str, kind: &str, doc: &str) -> Value {
    json!({ "name": name, "type": kind, "documentation": doc })
}

pub fn capability_statement(base: &str) -> Value {
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": DATE,
        "publisher": "Tessera",
        "kind": "instance",
        "software": { "name": "Tessera", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "Tessera DICOMweb archive: ImagingStudy view of the studies it holds",
            "url": format!("{}/fhir", base.trim_end_matches('/')),
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "resource": [
                {
                    "type": "ImagingStudy",
                    "interaction": [{ "code": "read" }, { "code": "search-type" }],
                    "searchParam": [
                        param("identifier", "token",
                            "urn:dicom:uid|urn:oid:<StudyInstanceUID>, or an accession number ([system|]value)"),
                        param("patient", "reference",
                            "[Patient/]<PatientID>: Tessera holds no Patient resources; matches PatientID"),
                        param("subject:identifier", "token", "[system|]PatientID (system: issuer of patient ID)"),
                        param("started", "date", "eq, ge, le, gt, lt on StudyDate (date precision)"),
                        param("modality", "token", "[http://dicom.nema.org/resources/ontology/DCM|]code: a modality in the study"),
                        param("_count", "number", "page size, default 20, at most 100"),
                        param("_elements", "string", "top-level elements to return"),
                    ],
                },
                { "type": "Endpoint", "interaction": [{ "code": "read" }] },
            ],
        }],
    })
}
