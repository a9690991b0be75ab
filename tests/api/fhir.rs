//! FHIR R4 ImagingStudy, Endpoint, CapabilityStatement, searchset Bundles and
//! OperationOutcomes through HTTP against the real application, on the SQLite and the
//! PostgreSQL index. The corpus: four synthetic studies built here (several series, missing
//! optional attributes, a time zone offset, accession numbers with and without issuer,
//! patient ID issuers) and three real files (Japanese and Korean names, an SR document).

use std::collections::BTreeSet;

use bytes::Bytes;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::qido_fixtures::{Part10, CT, MR, SR, US};

backend_tests! {
    every_index_in_memory => [
        mapping_cases,
        search_parameters,
        paging_and_elements,
        errors_are_operation_outcomes,
        metadata_and_endpoint,
    ];
}

const DEFAULT_SYSTEM: &str = "urn:oid:2.16.840.1.999.1";
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const SNOMED: &str = "http://snomed.info/sct";

fn item(elements: &[(dicom_core::Tag, VR, &str)]) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    for (tag, vr, value) in elements {
        obj.put(DataElement::new(
            *tag,
            *vr,
            dicom_core::PrimitiveValue::from(*value),
        ));
    }
    obj
}

fn sequence(tag: dicom_core::Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

struct Inst<'a> {
    study: &'a str,
    series: &'a str,
    sop: &'a str,
    class: &'a str,
}

fn base(i: &Inst) -> Part10 {
    Part10::new(i.class, i.sop)
        .text(tags::STUDY_INSTANCE_UID, VR::UI, i.study)
        .text(tags::SERIES_INSTANCE_UID, VR::UI, i.series)
}

/// F1: three series (CT, CT, SR), accession with a local issuer, IssuerOfPatientID, a time
/// zone offset, body parts, an SR title from ConceptNameCodeSequence and one from
/// DocumentTitle.
fn study_f1() -> Vec<Bytes> {
    let study = |p: Part10| {
        p.text(tags::PATIENT_NAME, VR::PN, "Doe^John")
            .text(tags::PATIENT_ID, VR::LO, "P1")
            .text(tags::ISSUER_OF_PATIENT_ID, VR::LO, "HOSP-A")
            .text(tags::ACCESSION_NUMBER, VR::SH, "ACC1")
            .element(sequence(
                tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
                vec![item(&[(tags::LOCAL_NAMESPACE_ENTITY_ID, VR::UT, "RIS-A")])],
            ))
            .text(tags::STUDY_DATE, VR::DA, "20240315")
            .text(tags::STUDY_TIME, VR::TM, "101530.25")
            .text(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, "+0100")
            .text(tags::STUDY_DESCRIPTION, VR::LO, "CT chest abdomen")
            .text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Smith^Anna^^Dr")
    };
    let ct = |series: &str, sop: &str, number: &str, series_number: &str, part: &str| {
        study(base(&Inst {
            study: "2.25.1001",
            series,
            sop,
            class: CT,
        }))
        .text(tags::MODALITY, VR::CS, "CT")
        .text(tags::SERIES_NUMBER, VR::IS, series_number)
        .text(tags::INSTANCE_NUMBER, VR::IS, number)
        .text(tags::BODY_PART_EXAMINED, VR::CS, part)
        .text(tags::SERIES_DATE, VR::DA, "20240315")
        .text(tags::SERIES_TIME, VR::TM, "1020")
        .text(tags::SERIES_DESCRIPTION, VR::LO, "Axial")
        .pixels(2, 2, 1)
        .build()
    };
    let sr = |sop: &str, number: &str, title: Option<&str>, concept: Option<&str>| {
        let mut p = study(base(&Inst {
            study: "2.25.1001",
            series: "2.25.1001.3",
            sop,
            class: SR,
        }))
        .text(tags::MODALITY, VR::CS, "SR")
        .text(tags::SERIES_NUMBER, VR::IS, "3")
        .text(tags::INSTANCE_NUMBER, VR::IS, number);
        if let Some(title) = title {
            p = p.text(tags::DOCUMENT_TITLE, VR::ST, title);
        }
        if let Some(meaning) = concept {
            p = p.element(sequence(
                tags::CONCEPT_NAME_CODE_SEQUENCE,
                vec![item(&[
                    (tags::CODE_VALUE, VR::SH, "18748-4"),
                    (tags::CODING_SCHEME_DESIGNATOR, VR::SH, "LN"),
                    (tags::CODE_MEANING, VR::LO, meaning),
                ])],
            ));
        }
        p.build()
    };
    vec![
        ct("2.25.1001.1", "2.25.1001.1.2", "2", "1", "CHEST"),
        ct("2.25.1001.1", "2.25.1001.1.1", "1", "1", "CHEST"),
        ct("2.25.1001.2", "2.25.1001.2.1", "1", "2", "ELBOWISH"),
        sr(
            "2.25.1001.3.1",
            "1",
            None,
            Some("Diagnostic imaging report"),
        ),
        sr("2.25.1001.3.2", "2", Some("Addendum"), None),
    ]
}

/// F2: nothing optional at all (no patient, dates, accession, descriptions, numbers).
fn study_f2() -> Vec<Bytes> {
    vec![base(&Inst {
        study: "2.25.1002",
        series: "2.25.1002.1",
        sop: "2.25.1002.1.1",
        class: MR,
    })
    .text(tags::MODALITY, VR::CS, "MR")
    .build()]
}

/// F3: PatientID without issuer (the configured system applies), accession with a universal
/// ISO issuer, a time without offset (started is the date only), laterality.
fn study_f3() -> Vec<Bytes> {
    vec![base(&Inst {
        study: "2.25.1003",
        series: "2.25.1003.1",
        sop: "2.25.1003.1.1",
        class: US,
    })
    .text(tags::MODALITY, VR::CS, "US")
    .text(tags::PATIENT_ID, VR::LO, "P1")
    .text(tags::PATIENT_NAME, VR::PN, "Doe^John")
    .text(tags::ACCESSION_NUMBER, VR::SH, "ACC3")
    .element(sequence(
        tags::ISSUER_OF_ACCESSION_NUMBER_SEQUENCE,
        vec![item(&[
            (tags::UNIVERSAL_ENTITY_ID, VR::UT, "1.2.3.4.5"),
            (tags::UNIVERSAL_ENTITY_ID_TYPE, VR::CS, "ISO"),
        ])],
    ))
    .text(tags::STUDY_DATE, VR::DA, "20231231")
    .text(tags::STUDY_TIME, VR::TM, "2359")
    .text(tags::BODY_PART_EXAMINED, VR::CS, "KNEE")
    .text(tags::LATERALITY, VR::CS, "L")
    .text(tags::SERIES_NUMBER, VR::IS, "1")
    .text(tags::INSTANCE_NUMBER, VR::IS, "1")
    .build()]
}

/// F4: the same accession number as F1 without issuer; another issuer of patient ID.
fn study_f4() -> Vec<Bytes> {
    vec![base(&Inst {
        study: "2.25.1004",
        series: "2.25.1004.1",
        sop: "2.25.1004.1.1",
        class: CT,
    })
    .text(tags::MODALITY, VR::CS, "CT")
    .text(tags::PATIENT_ID, VR::LO, "P1")
    .text(tags::ISSUER_OF_PATIENT_ID, VR::LO, "HOSP-B")
    .text(tags::ACCESSION_NUMBER, VR::SH, "ACC1")
    .text(tags::STUDY_DATE, VR::DA, "20240101")
    .build()]
}

const REAL: &[&str] = &["chrH31.dcm", "chrKoreanMulti.dcm", "test-SR.dcm"];

fn study_uid_of(file: &str) -> String {
    expected()[file]["study_instance_uid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn populated(backend: Backend) -> TestApp {
    let app = TestApp::spawn_with(backend, |s| {
        s.fhir_patient_id_system = Some(DEFAULT_SYSTEM.into());
    })
    .await;
    let mut parts = Vec::new();
    parts.extend(study_f1());
    parts.extend(study_f2());
    parts.extend(study_f3());
    parts.extend(study_f4());
    parts.extend(REAL.iter().map(|f| read_testdata(f)));
    let stored = app.stow_one_batch(&parts).await;
    assert_eq!(stored, 200, "storing the FHIR corpus");
    app
}

impl TestApp {
    async fn stow_one_batch(&self, parts: &[Bytes]) -> u16 {
        self.stow(parts).await.status().as_u16()
    }
}

/// GET a FHIR path; (status, content type, JSON body).
async fn get(app: &TestApp, path: &str) -> (u16, String, Value) {
    get_with(app, path, &[]).await
}

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{path}: status {status}: not JSON: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, content_type, body)
}

async fn read_study(app: &TestApp, id: &str) -> Value {
    let (status, content_type, body) = get(app, &format!("/fhir/ImagingStudy/{id}")).await;
    assert_eq!(status, 200, "{id}: {body}");
    assert_eq!(content_type, "application/fhir+json; charset=utf-8");
    body
}

fn without_meta(mut resource: Value) -> Value {
    let meta = resource.as_object_mut().unwrap().remove("meta").unwrap();
    let updated = meta["lastUpdated"].as_str().unwrap();
    assert!(
        updated.len() == 24 && updated.ends_with('Z') && updated.as_bytes()[10] == b'T',
        "lastUpdated {updated}"
    );
    resource
}

async fn mapping_cases(backend: Backend) {
    let app = populated(backend).await;

    // Several series, accession with issuer, IssuerOfPatientID, a time zone offset.
    let f1 = without_meta(read_study(&app, "2.25.1001").await);
    let acc = json!({
        "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN" }] },
        "value": "ACC1",
        "system": "RIS-A",
    });
    let expected = json!({
        "resourceType": "ImagingStudy",
        "id": "2.25.1001",
        "identifier": [
            { "system": "urn:dicom:uid", "value": "urn:oid:2.25.1001" },
            acc,
        ],
        "status": "available",
        "modality": [
            { "system": DCM, "code": "CT" },
            { "system": DCM, "code": "SR" },
        ],
        "subject": {
            "identifier": { "system": "HOSP-A", "value": "P1" },
            "display": "John Doe",
        },
        "started": "2024-03-15T10:15:30.25+01:00",
        "basedOn": [{ "type": "ServiceRequest", "identifier": acc }],
        "referrer": { "display": "Dr Anna Smith" },
        "endpoint": [{ "reference": "Endpoint/tessera-dicomweb" }],
        "numberOfSeries": 3,
        "numberOfInstances": 5,
        "description": "CT chest abdomen",
        "series": [
            {
                "uid": "2.25.1001.1",
                "number": 1,
                "modality": { "system": DCM, "code": "CT" },
                "description": "Axial",
                "numberOfInstances": 2,
                "bodySite": { "system": SNOMED, "code": "816094009", "display": "Chest" },
                "started": "2024-03-15T10:20:00+01:00",
                "instance": [
                    { "uid": "2.25.1001.1.1", "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{CT}") }, "number": 1 },
                    { "uid": "2.25.1001.1.2", "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{CT}") }, "number": 2 },
                ],
            },
            {
                "uid": "2.25.1001.2",
                "number": 2,
                "modality": { "system": DCM, "code": "CT" },
                "description": "Axial",
                "numberOfInstances": 1,
                "bodySite": { "display": "ELBOWISH" },
                "started": "2024-03-15T10:20:00+01:00",
                "instance": [
                    { "uid": "2.25.1001.2.1", "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{CT}") }, "number": 1 },
                ],
            },
            {
                "uid": "2.25.1001.3",
                "number": 3,
                "modality": { "system": DCM, "code": "SR" },
                "numberOfInstances": 2,
                "instance": [
                    { "uid": "2.25.1001.3.1", "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{SR}") }, "number": 1, "title": "Diagnostic imaging report" },
                    { "uid": "2.25.1001.3.2", "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{SR}") }, "number": 2, "title": "Addendum" },
                ],
            },
        ],
    });
    assert_eq!(f1, expected, "F1:\n{f1:#}");

    // Nothing optional: omitted, never empty; subject (required) says its data is absent.
    let f2 = without_meta(read_study(&app, "2.25.1002").await);
    assert_eq!(
        f2,
        json!({
            "resourceType": "ImagingStudy",
            "id": "2.25.1002",
            "identifier": [{ "system": "urn:dicom:uid", "value": "urn:oid:2.25.1002" }],
            "status": "available",
            "modality": [{ "system": DCM, "code": "MR" }],
            "subject": { "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": "unknown",
            }] },
            "endpoint": [{ "reference": "Endpoint/tessera-dicomweb" }],
            "numberOfSeries": 1,
            "numberOfInstances": 1,
            "series": [{
                "uid": "2.25.1002.1",
                "modality": { "system": DCM, "code": "MR" },
                "numberOfInstances": 1,
                "instance": [{ "uid": "2.25.1002.1.1", "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{MR}") } }],
            }],
        }),
        "F2:\n{f2:#}"
    );

    // Configured patient system, universal ISO accession issuer, no offset: date only.
    let f3 = read_study(&app, "2.25.1003").await;
    assert_eq!(
        f3["subject"]["identifier"],
        json!({ "system": DEFAULT_SYSTEM, "value": "P1" })
    );
    assert_eq!(f3["identifier"][1]["system"], "urn:oid:1.2.3.4.5");
    assert_eq!(f3["identifier"][1]["value"], "ACC3");
    assert_eq!(f3["started"], "2023-12-31");
    assert_eq!(
        f3["series"][0]["laterality"],
        json!({ "system": SNOMED, "code": "7771000", "display": "Left" })
    );
    assert_eq!(
        f3["series"][0]["bodySite"],
        json!({ "system": SNOMED, "code": "72696002", "display": "Knee" })
    );
    let f4 = read_study(&app, "2.25.1004").await;
    assert_eq!(
        f4["identifier"][1],
        json!({ "type": acc["type"], "value": "ACC1" })
    );
    assert_eq!(f4["started"], "2024-01-01");

    // Non-Latin names stay UTF-8: Japanese (three groups), Korean.
    let jap = read_study(&app, &study_uid_of("chrH31.dcm")).await;
    assert_eq!(
        jap["subject"]["display"],
        "Tarou Yamada (山田 太郎, やまだ たろう)"
    );
    let korean = read_study(&app, &study_uid_of("chrKoreanMulti.dcm")).await;
    assert_eq!(korean["subject"]["display"], "김희중");
    assert_eq!(korean["started"], "2008-05-04");
    // A real SR document: its title from ConceptNameCodeSequence.
    let sr = read_study(&app, &study_uid_of("test-SR.dcm")).await;
    let title = sr["series"][0]["instance"][0]["title"].as_str().unwrap();
    assert!(!title.is_empty());
    assert_eq!(sr["modality"], json!([{ "system": DCM, "code": "SR" }]));

    // No empty strings, arrays or objects anywhere.
    for resource in [&f1, &f2, &f3, &f4, &jap, &korean, &sr] {
        assert_no_empties(resource, "$");
    }
}

fn assert_no_empties(value: &Value, at: &str) {
    match value {
        Value::String(s) => assert!(!s.is_empty(), "empty string at {at}"),
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty array at {at}");
            for (i, item) in items.iter().enumerate() {
                assert_no_empties(item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(map) => {
            assert!(!map.is_empty(), "empty object at {at}");
            for (k, v) in map {
                assert_no_empties(v, &format!("{at}.{k}"));
            }
        }
        Value::Null => panic!("null at {at}"),
        _ => {}
    }
}

/// The ids of a searchset Bundle's entries, checking total and fullUrls on the way.
fn ids(app: &TestApp, bundle: &Value) -> BTreeSet<String> {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let id = e["resource"]["id"].as_str().unwrap().to_string();
            assert_eq!(e["fullUrl"], format!("{}/fhir/ImagingStudy/{id}", app.base));
            assert_eq!(e["search"]["mode"], "match");
            id
        })
        .collect()
}

async fn search_parameters(backend: Backend) {
    let app = populated(backend).await;
    let korean = study_uid_of("chrKoreanMulti.dcm");
    let sr = study_uid_of("test-SR.dcm");
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("identifier=urn:dicom:uid|urn:oid:2.25.1001", vec!["2.25.1001"]),
        ("identifier=urn:oid:2.25.1002", vec!["2.25.1002"]),
        ("identifier=urn:oid:2.25.1002,urn:oid:2.25.1003", vec!["2.25.1002", "2.25.1003"]),
        ("identifier=ACC1", vec!["2.25.1001", "2.25.1004"]),
        ("identifier=RIS-A|ACC1", vec!["2.25.1001"]),
        ("identifier=|ACC1", vec!["2.25.1004"]),
        ("identifier=OTHER|ACC1", vec![]),
        ("identifier=urn:oid:1.2.3.4.5|ACC3", vec!["2.25.1003"]),
        ("_id=2.25.1004", vec!["2.25.1004"]),
        ("patient=P1", vec!["2.25.1001", "2.25.1003", "2.25.1004"]),
        ("patient=Patient/P1", vec!["2.25.1001", "2.25.1003", "2.25.1004"]),
        ("subject:identifier=P1", vec!["2.25.1001", "2.25.1003", "2.25.1004"]),
        ("subject:identifier=HOSP-A|P1", vec!["2.25.1001"]),
        ("patient:identifier=HOSP-B|P1", vec!["2.25.1004"]),
        ("subject:identifier=urn:oid:2.16.840.1.999.1|P1", vec!["2.25.1003"]),
        ("subject:identifier=HOSP-A|P1,HOSP-B|P1", vec!["2.25.1001", "2.25.1004"]),
        ("started=2024", vec!["2.25.1001", "2.25.1004"]),
        ("started=2024-03-15", vec!["2.25.1001"]),
        ("started=eq2024-01", vec!["2.25.1004"]),
        ("started=ge2024-01-02", vec!["2.25.1001"]),
        ("started=gt2024-01-01", vec!["2.25.1001"]),
        ("started=le2024-01-01", vec!["2.25.1003", "2.25.1004", &korean]),
        ("started=lt2024-01-01", vec!["2.25.1003", &korean]),
        ("started=gt2023-12-31&started=le2024-03-15", vec!["2.25.1001", "2.25.1004"]),
        ("modality=SR", vec!["2.25.1001", &sr]),
        ("modality=http://dicom.nema.org/resources/ontology/DCM|MR", vec!["2.25.1002"]),
        ("modality=CT,MR", vec!["2.25.1001", "2.25.1002", "2.25.1004"]),
        ("modality=http://example.org/other|CT", vec![]),
        ("patient=P1&modality=US", vec!["2.25.1003"]),
        ("patient=P1&identifier=ACC1&started=2024-03", vec!["2.25.1001"]),
        ("modality=&patient=P1", vec!["2.25.1001", "2.25.1003", "2.25.1004"]),
    ];
    for (query, want) in cases {
        let path = format!("/fhir/ImagingStudy?{}", query.replace('|', "%7C"));
        let (status, content_type, bundle) = get(&app, &path).await;
        assert_eq!(status, 200, "{query}: {bundle}");
        assert_eq!(content_type, "application/fhir+json; charset=utf-8");
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(ids(&app, &bundle), want, "{query}");
        assert_eq!(bundle["total"], want.len(), "{query}: total");
        assert!(bundle.get("link").unwrap()[0]["relation"] == "self");
    }
}

async fn paging_and_elements(backend: Backend) {
    let app = populated(backend).await;
    // Seven studies, pages of two: follow the next links to the end.
    let mut seen = Vec::new();
    let mut url = app.url("/fhir/ImagingStudy?_count=2");
    let mut pages = 0;
    loop {
        let path = url.strip_prefix(&app.base).unwrap().to_string();
        let (status, _, bundle) = get(&app, &path).await;
        assert_eq!(status, 200, "{path}: {bundle}");
        assert_eq!(bundle["total"], 7);
        let links = bundle["link"].as_array().unwrap();
        assert_eq!(links[0]["relation"], "self");
        assert_eq!(links[0]["url"], url, "self link repeats the request");
        let page: Vec<String> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect();
        pages += 1;
        seen.extend(page.clone());
        match links.iter().find(|l| l["relation"] == "next") {
            Some(next) => {
                assert_eq!(page.len(), 2);
                url = next["url"].as_str().unwrap().to_string();
                assert!(
                    url.contains("_count=2") && url.contains("_offset="),
                    "{url}"
                );
            }
            None => {
                assert_eq!(page.len(), 1, "last page");
                break;
            }
        }
    }
    assert_eq!(pages, 4);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 7, "no study twice, none missing: {seen:?}");

    // Paging with checks on identifier systems (cut after the check).
    let (_, _, first) = get(
        &app,
        "/fhir/ImagingStudy?subject:identifier=HOSP-A%7CP1,HOSP-B%7CP1&_count=1",
    )
    .await;
    assert_eq!(first["total"], 2);
    assert_eq!(first["entry"].as_array().unwrap().len(), 1);
    let next = first["link"][1]["url"].as_str().unwrap();
    assert_eq!(first["link"][1]["relation"], "next");
    let (_, _, second) = get(&app, next.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(second["entry"].as_array().unwrap().len(), 1);
    assert_ne!(
        first["entry"][0]["resource"]["id"],
        second["entry"][0]["resource"]["id"]
    );
    assert!(second["link"].as_array().unwrap().len() == 1, "no next");

    // _count=0: the total only.
    let (_, _, counted) = get(&app, "/fhir/ImagingStudy?patient=P1&_count=0").await;
    assert_eq!(counted["total"], 3);
    assert!(counted.get("entry").is_none());

    // _elements: id, meta, mandatory elements and those listed; tagged SUBSETTED.
    let (status, _, subset) = get(
        &app,
        "/fhir/ImagingStudy?identifier=urn:oid:2.25.1001&_elements=identifier,numberOfSeries",
    )
    .await;
    assert_eq!(status, 200);
    let resource = &subset["entry"][0]["resource"];
    let keys: BTreeSet<&str> = resource
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "resourceType",
            "id",
            "meta",
            "status",
            "subject",
            "identifier",
            "numberOfSeries"
        ])
    );
    assert_eq!(resource["numberOfSeries"], 3);
    assert_eq!(
        resource["meta"]["tag"],
        json!([{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED" }])
    );
    let (_, _, read) = get(&app, "/fhir/ImagingStudy/2.25.1001?_elements=started").await;
    assert_eq!(read["started"], "2024-03-15T10:15:30.25+01:00");
    assert!(read.get("series").is_none());
}

async fn assert_outcome(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    status: u16,
    code: &str,
) {
    let (got, content_type, body) = get_with(app, path, headers).await;
    assert_eq!(got, status, "{path}: {body}");
    assert_eq!(
        content_type, "application/fhir+json; charset=utf-8",
        "{path}"
    );
    assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
    assert_eq!(body["issue"][0]["severity"], "error", "{path}");
    assert_eq!(body["issue"][0]["code"], code, "{path}: {body}");
    assert!(
        !body["issue"][0]["diagnostics"].as_str().unwrap().is_empty(),
        "{path}"
    );
}

async fn errors_are_operation_outcomes(backend: Backend) {
    let app = populated(backend).await;
    let none: &[(&str, &str)] = &[];
    assert_outcome(&app, "/fhir/ImagingStudy/2.25.999", none, 404, "not-found").await;
    assert_outcome(&app, "/fhir/ImagingStudy/not-a-uid", none, 404, "not-found").await;
    assert_outcome(&app, "/fhir/Endpoint/other", none, 404, "not-found").await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?bogus=1",
        none,
        400,
        "not-supported",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?identifier:text=x",
        none,
        400,
        "not-supported",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?started=ne2024",
        none,
        400,
        "not-supported",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?started=2024-13",
        none,
        400,
        "invalid",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?started=2024-01-01T10:00:00Z",
        none,
        400,
        "invalid",
    )
    .await;
    assert_outcome(&app, "/fhir/ImagingStudy?_count=many", none, 400, "invalid").await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?identifier=urn:oid:1.2.x",
        none,
        400,
        "invalid",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?_elements=nonsense",
        none,
        400,
        "invalid",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?identifier=urn:oid:2.25.1,ACC1",
        none,
        400,
        "not-supported",
    )
    .await;
    // Only JSON: other formats are 406, with the outcome in JSON.
    assert_outcome(
        &app,
        "/fhir/metadata",
        &[("accept", "application/fhir+xml")],
        406,
        "not-supported",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy/2.25.1001?_format=xml",
        none,
        406,
        "not-supported",
    )
    .await;
    assert_outcome(
        &app,
        "/fhir/ImagingStudy?_format=application/fhir%2Bxml",
        none,
        406,
        "not-supported",
    )
    .await;
    // Lenient handling ignores the unknown parameter.
    let (status, _, bundle) = get_with(
        &app,
        "/fhir/ImagingStudy?bogus=1&identifier=ACC3",
        &[("prefer", "handling=lenient")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bundle["total"], 1);
    // JSON in every accepted spelling.
    for accept in [
        "application/fhir+json",
        "application/json",
        "*/*",
        "text/html, */*;q=0.8",
    ] {
        let (status, _, _) =
            get_with(&app, "/fhir/ImagingStudy/2.25.1001", &[("accept", accept)]).await;
        assert_eq!(status, 200, "{accept}");
    }
    for format in ["json", "application/json", "application/fhir%2Bjson"] {
        let (status, _, _) = get(
            &app,
            &format!("/fhir/ImagingStudy/2.25.1001?_format={format}"),
        )
        .await;
        assert_eq!(status, 200, "{format}");
    }
}

async fn metadata_and_endpoint(backend: Backend) {
    let app = populated(backend).await;
    let (status, content_type, cs) = get(&app, "/fhir/metadata").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/fhir+json; charset=utf-8");
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(cs["kind"], "instance");
    let resources = cs["rest"][0]["resource"].as_array().unwrap();
    let study = resources
        .iter()
        .find(|r| r["type"] == "ImagingStudy")
        .unwrap();
    let interactions: Vec<&str> = study["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(interactions, ["read", "search-type"]);
    let params: BTreeSet<&str> = study["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "identifier",
        "patient",
        "started",
        "modality",
        "subject:identifier",
    ] {
        assert!(params.contains(p), "{p}");
    }
    assert!(resources.iter().any(|r| r["type"] == "Endpoint"));

    let (status, _, endpoint) = get(&app, "/fhir/Endpoint/tessera-dicomweb").await;
    assert_eq!(status, 200);
    assert_eq!(endpoint["status"], "active");
    assert_eq!(endpoint["address"], format!("{}/dicom-web", app.base));
    assert_eq!(endpoint["connectionType"]["code"], "dicom-wado-rs");
    assert_eq!(
        endpoint["connectionType"]["system"],
        "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
    );
    // The address really is the DICOMweb root: QIDO answers there with the stored study.
    let qido = app
        .client
        .get(format!(
            "{}/studies?StudyInstanceUID=2.25.1001",
            endpoint["address"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(qido.status().as_u16(), 200);
    let studies: Value = serde_json::from_slice(&qido.bytes().await.unwrap()).unwrap();
    assert_eq!(studies.as_array().unwrap().len(), 1);
}
