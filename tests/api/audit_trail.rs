//! The audit trail through the real app: the records of a STOW, a QIDO, a metadata and a
//! frame request, a delete and a refused request, field by field; the same records as FHIR
//! AuditEvent resources accepted by the strict FHIR R4 test server; searches by date, agent,
//! entity and patient; admin only; nothing queued lost on a graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::Value;
use tessera::audit::{Action, AuditQuery, AuditRecord, EventType, Interaction, Outcome};

use crate::auth_support::*;
use crate::fhir_server::{fhir_url, lock_shared, request, FHIR_JSON};
use crate::helpers::{Backend, TestApp};
use crate::suite::{ct_variant, ct_variant_uid};

const STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const SERIES: &str = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";
const PATIENT: &str = "1CT1";

/// Every record, oldest first, once at least `count` are in the trail (reads are batched).
async fn records(app: &TestApp, count: usize) -> Vec<AuditRecord> {
    let query = AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    };
    for _ in 0..50 {
        let mut found = app.state.audit_log.search_audit(&query).await.unwrap();
        if found.len() >= count {
            found.reverse();
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} audit records after 5 s");
}

#[tokio::test]
async fn stow_qido_metadata_frame_delete_and_refusal_are_recorded_field_by_field() {
    let rs = TestKey::rsa("rs-1", Algorithm::RS256, 0);
    let issuer = TestIssuer::start(&[&rs]).await;
    let app = app_with_issuer(Backend::SQLITE_LOCAL, &issuer).await;
    let token = rs.sign(&claims(&issuer.url, &["read", "write", "delete"]));
    let reader = api_key(&app, "reading-room", "read").await;
    let before = records(&app, 1).await.len(); // the key's creation
    let sop = ct_variant_uid(1);

    // 1. STOW (JWT).
    let stow = app
        .client
        .post(app.url("/dicom-web/studies"))
        .bearer_auth(&token)
        .header("content-type", "application/dicom")
        .body(ct_variant(1))
        .send()
        .await
        .unwrap();
    assert_eq!(stow.status(), 200);
    // The write is in the trail when its answer arrives: no waiting.
    let written = app
        .state
        .audit_log
        .search_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(written[0].event, EventType::InstancesTransferred);
    // 2. QIDO, 3. metadata, 4. frame (API key).
    let qido = format!("/dicom-web/studies?PatientID={PATIENT}&includefield=all");
    let metadata = format!("/dicom-web/studies/{STUDY}/metadata");
    let frame = format!("/dicom-web/studies/{STUDY}/series/{SERIES}/instances/{sop}/frames/1");
    for path in [&qido, &metadata, &frame] {
        assert_eq!(get_as(&app, path, Some(&reader)).await.0, 200, "{path}");
    }
    // 5. refused: the reader deletes.
    let study_path = format!("/dicom-web/studies/{STUDY}");
    let refused = app
        .client
        .delete(app.url(&study_path))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // 6. a failed authentication.
    assert_eq!(get_as(&app, &qido, Some("tsk_wrong")).await.0, 401);
    // 7. delete (JWT).
    let deleted = app
        .client
        .delete(app.url(&study_path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());

    let all = records(&app, before + 7).await;
    let got = &all[before..];
    assert_eq!(got.len(), 7, "{got:#?}");
    let jwt_agent = |r: &AuditRecord| {
        assert_eq!(r.agent.subject.as_deref(), Some("user-1"));
        assert_eq!(r.agent.client_id.as_deref(), Some("test-client"));
        assert_eq!(r.agent.issuer.as_deref(), Some(issuer.url.as_str()));
        assert_eq!(r.agent.api_key, None);
        assert_eq!(r.agent.address.as_deref(), Some("127.0.0.1"));
    };
    let key_agent = |r: &AuditRecord| {
        assert_eq!(r.agent.subject.as_deref(), Some("api-key:reading-room"));
        assert_eq!(r.agent.api_key.as_deref(), Some("reading-room"));
        assert_eq!(r.agent.address.as_deref(), Some("127.0.0.1"));
    };
    // The records are sorted by time: the STOW first, the delete last; the batched reads
    // in between in their order.
    let find = |event: EventType, method: &str, status: u16| -> &AuditRecord {
        got.iter()
            .find(|r| r.event == event && r.method == method && r.status == status)
            .unwrap_or_else(|| panic!("no {event:?} {method} {status} record in {got:#?}"))
    };

    let r = find(EventType::InstancesTransferred, "POST", 200);
    jwt_agent(r);
    assert_eq!(
        (r.action, r.outcome, r.interaction),
        (Action::Create, Outcome::Success, Some(Interaction::Create))
    );
    assert_eq!(r.path, "/dicom-web/studies");
    assert_eq!(r.study_uid.as_deref(), Some(STUDY));
    assert_eq!(
        r.patient_id.as_deref(),
        Some(PATIENT),
        "the stored study's patient"
    );
    assert_eq!(r.query, None);

    let r = find(EventType::Query, "GET", 200);
    key_agent(r);
    assert_eq!((r.action, r.outcome), (Action::Execute, Outcome::Success));
    assert_eq!(r.query.as_deref(), Some(qido.split_once('?').unwrap().1));
    assert_eq!(r.patient_id.as_deref(), Some(PATIENT));

    let reads: Vec<&AuditRecord> = got
        .iter()
        .filter(|r| r.event == EventType::InstancesAccessed)
        .collect();
    assert_eq!(reads.len(), 2);
    let (meta, frm) = (reads[0], reads[1]);
    key_agent(meta);
    assert_eq!(meta.path, metadata);
    assert_eq!(
        (meta.action, meta.status, meta.interaction),
        (Action::Read, 200, Some(Interaction::Read))
    );
    assert_eq!(meta.study_uid.as_deref(), Some(STUDY));
    assert_eq!(
        meta.patient_id.as_deref(),
        Some(PATIENT),
        "looked up from the study"
    );
    assert_eq!(meta.series_uid, None);
    key_agent(frm);
    assert_eq!(frm.path, frame);
    assert_eq!(frm.series_uid.as_deref(), Some(SERIES));
    assert_eq!(frm.sop_uid.as_deref(), Some(sop.as_str()));
    assert_eq!(frm.patient_id.as_deref(), Some(PATIENT));

    let r = find(EventType::SecurityAlert, "DELETE", 403);
    key_agent(r);
    assert_eq!(
        (r.action, r.outcome),
        (Action::Delete, Outcome::MinorFailure)
    );
    assert_eq!(r.detail.as_deref(), Some("the delete role is required"));
    assert_eq!(r.study_uid.as_deref(), Some(STUDY));

    let r = find(EventType::UserAuthentication, "GET", 401);
    assert_eq!(r.agent.subject, None);
    assert_eq!(r.agent.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.outcome, Outcome::MinorFailure);
    assert_eq!(r.detail.as_deref(), Some("invalid token: unknown API key"));

    let r = find(EventType::StudyDeleted, "DELETE", deleted_status(got));
    jwt_agent(r);
    assert_eq!((r.action, r.outcome), (Action::Delete, Outcome::Success));
    assert_eq!(r.study_uid.as_deref(), Some(STUDY));
    assert_eq!(
        r.patient_id.as_deref(),
        Some(PATIENT),
        "read before the study went"
    );

    // The same records as FHIR AuditEvents, read by an admin, accepted by a strict FHIR R4
    // server.
    let admin = api_key(&app, "auditor", "admin").await;
    let (status, _, body) = get_as(&app, "/fhir/AuditEvent?_count=100", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let bundle: Value = serde_json::from_str(&body).unwrap();
    let entries = bundle["entry"].as_array().unwrap();
    assert!(entries.len() >= 8);
    let _guard = lock_shared().await;
    let client = reqwest::Client::new();
    for entry in entries {
        let resource = &entry["resource"];
        assert_eq!(resource["resourceType"], "AuditEvent");
        let id = format!(
            "tessera-{}-{}",
            std::process::id(),
            resource["id"].as_str().unwrap()
        );
        let mut copy = resource.clone();
        copy["id"] = Value::String(id.clone());
        let (status, _, outcome) = request(
            client
                .put(format!("{}/AuditEvent/{id}", fhir_url()))
                .header("content-type", FHIR_JSON)
                .body(copy.to_string()),
        )
        .await;
        assert!(status == 200 || status == 201, "{resource}\n{outcome}");
    }
    // Field by field on the FHIR side, for the frame read.
    let event = entries
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["type"]["code"] == "110103" && r["entity"].to_string().contains(&sop))
        .expect("the frame read as an AuditEvent");
    assert_eq!(event["action"], "R");
    assert_eq!(event["outcome"], "0");
    let text = event.to_string();
    for needle in [PATIENT, STUDY, "reading-room", "127.0.0.1", "tessera"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
}

fn deleted_status(got: &[AuditRecord]) -> u16 {
    got.iter()
        .find(|r| r.event == EventType::StudyDeleted)
        .map(|r| r.status)
        .unwrap_or(0)
}

#[tokio::test]
async fn audit_events_are_searchable_and_for_admins_only() {
    let app = TestApp::spawn_with(Backend::POSTGRES_MEMORY, |s| require_auth(s, None)).await;
    let writer = api_key(&app, "modality", "read,write").await;
    let admin = api_key(&app, "auditor", "admin").await;
    for n in 1..=2 {
        let stow = app
            .client
            .post(app.url("/dicom-web/studies"))
            .bearer_auth(&writer)
            .header("content-type", "application/dicom")
            .body(ct_variant(n))
            .send()
            .await
            .unwrap();
        assert_eq!(stow.status(), 200);
    }
    assert_eq!(
        get_as(&app, "/dicom-web/studies", Some(&writer)).await.0,
        200
    );
    records(&app, 5).await;
    let search = |query: &str| {
        let (app, admin) = (&app, &admin);
        let query = query.to_string();
        async move {
            let (status, _, body) =
                get_as(app, &format!("/fhir/AuditEvent?{query}"), Some(admin)).await;
            assert_eq!(status, 200, "{query}: {body}");
            let bundle: Value = serde_json::from_str(&body).unwrap();
            bundle["entry"].as_array().cloned().unwrap_or_default()
        }
    };
    let by_entity = search(&format!("entity=urn:oid:{STUDY}")).await;
    assert_eq!(by_entity.len(), 2, "two STOWs into the study");
    assert_eq!(search(&format!("patient={PATIENT}")).await.len(), 2);
    assert_eq!(search("agent=modality").await.len(), 3);
    assert_eq!(search("agent=nobody").await.len(), 0);
    let today = tessera::fhir::datetime::instant(now() * 1_000_000)[..10].to_string();
    assert!(search(&format!("date={today}")).await.len() >= 5);
    assert_eq!(search("date=lt2000-01-01").await.len(), 0);
    let paged = search("_count=2").await;
    assert_eq!(paged.len(), 2);
    // Not for the writer, and a bad parameter is a 400 OperationOutcome.
    let (status, _, body) = get_as(&app, "/fhir/AuditEvent", Some(&writer)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("OperationOutcome") && body.contains("the admin role is required"));
    let (status, _, body) = get_as(&app, "/fhir/AuditEvent?date=yesterday", Some(&admin)).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn queued_reads_are_written_on_graceful_shutdown() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    assert_eq!(
        get_as(&app, "/dicom-web/studies?PatientID=X", None).await.0,
        200
    );
    // Stop at once: the batch writer has not lingered yet.
    let settings = app.settings.clone();
    let dir = Arc::clone(&app.dir);
    let log = Arc::clone(&app.state.audit_log);
    app.stop().await;
    let found = log
        .search_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event, EventType::Query);
    assert_eq!(found[0].patient_id.as_deref(), Some("X"));
    // Without authentication the agent is anonymous but its address is known.
    assert_eq!(found[0].agent.subject, None);
    assert_eq!(found[0].agent.address.as_deref(), Some("127.0.0.1"));
    drop((settings, dir));
}

#[tokio::test]
async fn records_are_forwarded_as_dicom_audit_messages_over_syslog() {
    let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, move |s| {
        s.audit_syslog = Some(format!("udp://127.0.0.1:{port}"));
        s.audit_source_id = "tessera-test-node".into();
    })
    .await;
    assert_eq!(
        get_as(&app, "/dicom-web/studies?PatientID=P-42", None)
            .await
            .0,
        200
    );
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), receiver.recv_from(&mut buf))
        .await
        .expect("a syslog datagram within 5 s")
        .unwrap();
    let message = String::from_utf8_lossy(&buf[..n]).to_string();
    // RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID; authpriv notice for a success.
    assert!(message.starts_with("<85>1 "), "{message}");
    assert!(message.contains(" tessera "), "{message}");
    assert!(message.contains("<AuditMessage"), "{message}");
    assert!(message.contains(r#"csd-code="110112""#), "{message}");
    assert!(
        message.contains(r#"AuditSourceID="tessera-test-node""#),
        "{message}"
    );
    assert!(message.contains("P-42"), "{message}");
}
