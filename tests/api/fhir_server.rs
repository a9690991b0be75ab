//! The external FHIR R4 server that Tessera pushes to in tests (tests/support/fhir-server, started by
//! scripts/test.sh through scripts/test/fhir-server.sh): helpers for the push tests, and a smoke test
//! proving that the server behaves the way Tessera uses it (conditional create and update by
//! identifier, search, validation, data kept across a restart).
//!
//! The server is one process shared by every test of this binary. A test that only reads and
//! writes takes `lock_shared()`; a test that stops or restarts it takes `lock_exclusive()`, so that
//! no other test sees it down. Tests use identifiers of their own (`unique()`), never a wiped server.

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static SERVER: RwLock<()> = RwLock::const_new(());

pub const FHIR_JSON: &str = "application/fhir+json";

/// Base URL of the FHIR server, e.g. `http://127.0.0.1:18090/fhir`. Panics (the test fails) when
/// TESSERA_TEST_FHIR_URL is not set.
pub fn fhir_url() -> String {
    std::env::var("TESSERA_TEST_FHIR_URL")
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|_| {
            panic!(
                "TESSERA_TEST_FHIR_URL is not set: run scripts/test.sh, or `scripts/test/fhir-server.sh start` \
                 and `. /tmp/tessera-fhir/env` before cargo test"
            )
        })
}

fn server_script() -> PathBuf {
    std::env::var("TESSERA_TEST_FHIR_SERVER_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            panic!(
                "TESSERA_TEST_FHIR_SERVER_SCRIPT is not set: run scripts/test.sh, or \
                 `. /tmp/tessera-fhir/env` after `scripts/test/fhir-server.sh start`"
            )
        })
}

fn run_script(command: &str) {
    let script = server_script();
    let out = Command::new(&script)
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("could not run {} {command}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} {command} failed ({}):\n{}{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops the FHIR server (blocking: runs scripts/test/fhir-server.sh stop, which waits until the port is
/// closed). Hold `lock_exclusive()` around stop and start.
pub fn stop_server() {
    run_script("stop");
}

/// Starts the FHIR server again with its data (blocking: returns once GET metadata answers).
pub fn start_server() {
    run_script("start");
}

/// For tests that use the server without stopping it.
#[allow(dead_code)] // for the push tests
pub async fn lock_shared() -> RwLockReadGuard<'static, ()> {
    SERVER.read().await
}

/// For tests that stop or restart the server: no other test runs against it meanwhile.
pub async fn lock_exclusive() -> RwLockWriteGuard<'static, ()> {
    SERVER.write().await
}

/// A string no other test run uses, for identifiers.
pub fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}.{nanos}", std::process::id())
}

/// GET `<base>/<resource_type>?<query>`; asserts 200 and a searchset Bundle, returns the Bundle.
/// `query` is sent as written, e.g. `identifier=urn:dicom:uid|urn:oid:1.2.3`.
pub async fn search(resource_type: &str, query: &str) -> Value {
    let url = format!("{}/{resource_type}?{query}", fhir_url());
    let (status, _, body) = request(reqwest::Client::new().get(&url)).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    assert_eq!(body["resourceType"], "Bundle", "GET {url}: {body}");
    assert_eq!(body["type"], "searchset", "GET {url}: {body}");
    body
}

/// The resources of a searchset Bundle.
pub fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

/// Sends a request; returns (status, ETag header, JSON body). Panics when the server cannot be reached.
pub async fn request(builder: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = builder.send().await.expect("FHIR server unreachable");
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.expect("FHIR response body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "FHIR response is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, etag, body)
}

fn put(url: &str, resource: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .put(url)
        .header("content-type", FHIR_JSON)
        .body(serde_json::to_vec(resource).unwrap())
}

/// The resource without what the server adds (id, meta), to compare with what was sent.
fn as_sent(resource: &Value) -> Value {
    let mut r = resource.clone();
    let obj = r.as_object_mut().unwrap();
    obj.remove("id");
    obj.remove("meta");
    r
}

/// Starts the server again if a test panics while it is stopped, so later tests find it up.
struct RestartOnDrop;
impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new(server_script()).arg("start").output();
        }
    }
}

fn imaging_study(identifier: &str, patient_id: &str, series: usize, description: &str) -> Value {
    json!({
        "resourceType": "ImagingStudy",
        "identifier": [{"use": "official", "system": "urn:dicom:uid", "value": identifier}],
        "status": "available",
        "subject": {"reference": format!("Patient/{patient_id}")},
        "started": "2024-03-05T14:30:00+09:00",
        "numberOfSeries": series,
        "numberOfInstances": series * 2,
        "description": description,
        "series": (0..series).map(|n| json!({
            "uid": format!("1.2.826.0.1.3680043.8.498.{}", n + 1),
            "number": n + 1,
            "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
            "numberOfInstances": 2,
        })).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn conditional_create_update_search_validation_and_restart() {
    let _lock = lock_exclusive().await;
    let base = fhir_url();
    let client = reqwest::Client::new();
    let tag = unique();

    // GET metadata: an R4 server.
    let (status, _, cap) = request(client.get(format!("{base}/metadata"))).await;
    assert_eq!(status, 200);
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");

    // Conditional create of a minimal Patient, twice: one Patient.
    let patient_ident = format!("urn:tessera:test:patient|{tag}");
    let patient = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:tessera:test:patient", "value": tag}],
        "name": [{"family": "山田", "given": ["太郎"]}],
    });
    let create = || {
        client
            .post(format!("{base}/Patient"))
            .header("content-type", FHIR_JSON)
            .header("if-none-exist", format!("identifier={patient_ident}"))
            .body(serde_json::to_vec(&patient).unwrap())
    };
    let (status, _, first) = request(create()).await;
    assert_eq!(status, 201, "first conditional create: {first}");
    let patient_id = first["id"]
        .as_str()
        .expect("created Patient has an id")
        .to_string();
    assert_eq!(as_sent(&first), patient);
    let (status, _, second) = request(create()).await;
    assert_eq!(
        status, 200,
        "second conditional create finds the first: {second}"
    );
    assert_eq!(second["id"], patient_id.as_str());
    assert_eq!(second["meta"]["versionId"], "1");
    let found = search("Patient", &format!("identifier={patient_ident}")).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(entries(&found).len(), 1);
    assert_eq!(entries(&found)[0]["id"], patient_id.as_str());

    // Conditional update of an ImagingStudy by identifier, twice with new values: one resource, version 2.
    let study_ident = format!("urn:oid:1.2.826.0.1.3680043.8.498.{}", tag.replace('.', ""));
    let by_ident = format!("{base}/ImagingStudy?identifier=urn:dicom:uid|{study_ident}");
    let v1 = imaging_study(&study_ident, &patient_id, 1, "CT chest");
    let (status, etag, created) = request(put(&by_ident, &v1)).await;
    assert_eq!(status, 201, "conditional update that creates: {created}");
    assert_eq!(etag.as_deref(), Some("W/\"1\""));
    let study_id = created["id"].as_str().unwrap().to_string();
    assert_eq!(as_sent(&created), v1);

    let v2 = imaging_study(&study_ident, &patient_id, 2, "胸部CT 造影");
    let (status, etag, updated) = request(put(&by_ident, &v2)).await;
    assert_eq!(
        status, 200,
        "conditional update of the existing one: {updated}"
    );
    assert_eq!(etag.as_deref(), Some("W/\"2\""));
    assert_eq!(updated["id"], study_id.as_str());
    assert_eq!(updated["meta"]["versionId"], "2");

    let (status, _, read) = request(client.get(format!("{base}/ImagingStudy/{study_id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(as_sent(&read), v2, "the server keeps the values as sent");
    assert_eq!(read["meta"]["versionId"], "2");

    let found = search(
        "ImagingStudy",
        &format!("identifier=urn:dicom:uid|{study_ident}"),
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(entries(&found)[0]["id"], study_id.as_str());
    let none = search(
        "ImagingStudy",
        &format!("identifier=urn:dicom:uid|{study_ident}.9"),
    )
    .await;
    assert_eq!(none["total"], 0, "{none}");

    // The same content again makes no new version (as HAPI JPA).
    let (status, _, same) = request(put(&by_ident, &v2)).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["meta"]["versionId"], "2");

    // Endpoint: update by id creates, then updates.
    let endpoint_id = format!("tessera-{}", tag.replace('.', "-"));
    let mut endpoint = json!({
        "resourceType": "Endpoint",
        "id": endpoint_id,
        "status": "active",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "dicom-wado-rs"},
        "payloadType": [{"text": "DICOM"}],
        "payloadMimeType": ["application/dicom"],
        "address": "http://127.0.0.1:8080/dicom-web",
    });
    let endpoint_url = format!("{base}/Endpoint/{endpoint_id}");
    let (status, _, body) = request(put(&endpoint_url, &endpoint)).await;
    assert_eq!(status, 201, "{body}");
    endpoint["address"] = json!("http://127.0.0.1:8081/dicom-web");
    let (status, _, body) = request(put(&endpoint_url, &endpoint)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["versionId"], "2");
    assert_eq!(body["address"], "http://127.0.0.1:8081/dicom-web");

    // Invalid resources are refused with 422 and an OperationOutcome naming the element; nothing changes.
    let mut bogus_status = v2.clone();
    bogus_status["status"] = json!("bogus");
    let mut empty_string = v2.clone();
    empty_string["description"] = json!("");
    let mut unknown_element = v2.clone();
    unknown_element["seriesCount"] = json!(2);
    let mut bad_date = v2.clone();
    bad_date["started"] = json!("2024-13-45");
    for (invalid, element) in [
        (bogus_status, "ImagingStudy.status"),
        (empty_string, "ImagingStudy.description"),
        (unknown_element, "ImagingStudy.seriesCount"),
        (bad_date, "ImagingStudy.started"),
    ] {
        let (status, _, outcome) = request(put(&by_ident, &invalid)).await;
        assert_eq!(status, 422, "{element}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        let issues = outcome["issue"].as_array().unwrap();
        assert!(
            issues
                .iter()
                .any(|i| i["severity"] == "error" && i["expression"][0] == element),
            "no error issue on {element}: {outcome}"
        );
    }
    let (status, _, body) = request(
        client
            .post(format!("{base}/Patient"))
            .header("content-type", FHIR_JSON)
            .body("{\"resourceType\": \"Patient\","),
    )
    .await;
    assert_eq!(status, 400, "malformed JSON: {body}");
    let (_, _, read) = request(client.get(format!("{base}/ImagingStudy/{study_id}"))).await;
    assert_eq!(
        read["meta"]["versionId"], "2",
        "a refused update changed the resource"
    );

    // Stop the server: requests fail. Start it again: the data is still there.
    let _restart = RestartOnDrop;
    stop_server();
    let refused = client.get(format!("{base}/metadata")).send().await;
    assert!(
        refused.is_err(),
        "the server still answers after stop: {refused:?}"
    );
    start_server();

    let found = search(
        "ImagingStudy",
        &format!("identifier=urn:dicom:uid|{study_ident}"),
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let after = &entries(&found)[0];
    assert_eq!(after["id"], study_id.as_str());
    assert_eq!(after["meta"]["versionId"], "2");
    assert_eq!(as_sent(after), v2);
    let found = search("Patient", &format!("identifier={patient_ident}")).await;
    assert_eq!(found["total"], 1, "{found}");
    let (status, _, again) = request(create()).await;
    assert_eq!(
        status, 200,
        "conditional create after restart finds the Patient: {again}"
    );
    assert_eq!(again["id"], patient_id.as_str());

    // Versions go on from where they were.
    let v3 = imaging_study(&study_ident, &patient_id, 3, "CT chest, 3 series");
    let (status, etag, updated) = request(put(&by_ident, &v3)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(etag.as_deref(), Some("W/\"3\""));
    assert_eq!(updated["id"], study_id.as_str());
}
