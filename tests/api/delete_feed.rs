//! Delete (study, series, instance) and the change feed, through HTTP on both databases:
//! counts, ModalitiesInStudy, rows and blobs after each delete; feed order, actions and
//! states; paging; and sequence numbers that never go backwards with two nodes on PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use serde_json::Value;
use tessera::index::DuplicatePolicy;

use crate::helpers::*;
use crate::qido_fixtures::{Part10, CT, MR};

backend_tests! {
    every_index_on_local_disk => [delete_and_change_feed];
}

const ROOT: &str = "1.2.826.0.1.3680043.10.1407.5";

fn uid(suffix: &str) -> String {
    format!("{ROOT}.{suffix}")
}

/// A small instance of study `s`, series `s.se`, instance `s.se.i`.
fn instance(study: u32, series: u32, n: u32, modality: &str, description: &str) -> Bytes {
    let class = if modality == "MR" { MR } else { CT };
    Part10::new(class, &uid(&format!("{study}.{series}.{n}")))
        .text(tags::STUDY_INSTANCE_UID, VR::UI, &uid(&study.to_string()))
        .text(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &uid(&format!("{study}.{series}")),
        )
        .text(tags::MODALITY, VR::CS, modality)
        .text(tags::PATIENT_ID, VR::LO, &format!("DEL-{study}"))
        .text(tags::PATIENT_NAME, VR::PN, "Delete^Tester")
        .text(tags::SERIES_DESCRIPTION, VR::LO, description)
        .text(tags::INSTANCE_NUMBER, VR::IS, &n.to_string())
        .pixels(4, 4, 1)
        .build()
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    };
    (status, json)
}

async fn delete(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.client.delete(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The whole feed, as (action, SOP suffix, state) triples in sequence order.
async fn feed(app: &TestApp) -> Vec<(String, String, String)> {
    let (status, entries) = get_json(
        app,
        "/dicom-web/changefeed?limit=10000&includeMetadata=false",
    )
    .await;
    assert_eq!(status, 200);
    let entries = entries.as_array().unwrap();
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["Sequence"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "sequence numbers 1..n without gaps");
    entries
        .iter()
        .map(|e| {
            (
                e["Action"].as_str().unwrap().to_string(),
                e["SopInstanceUid"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(&format!("{ROOT}."))
                    .to_string(),
                e["State"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn triple(action: &str, sop: &str, state: &str) -> (String, String, String) {
    (action.into(), sop.into(), state.into())
}

async fn study_counts(app: &TestApp, study: u32) -> Option<(i64, i64, Vec<String>)> {
    app.study(&uid(&study.to_string()))
        .await
        .map(|s| (s.num_series, s.num_instances, s.modalities_in_study))
}

async fn delete_and_change_feed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.duplicate_policy = DuplicatePolicy::Overwrite;
    })
    .await;
    // An empty feed: no latest entry.
    let response = app
        .client
        .get(app.url("/dicom-web/changefeed/latest"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, empty) = get_json(&app, "/dicom-web/changefeed").await;
    assert_eq!((status, empty), (200, Value::Array(vec![])));

    // Study 1: CT series 1 (3 instances), MR series 2 (2); study 2: one CT instance.
    let parts = vec![
        instance(1, 1, 1, "CT", "axial"),
        instance(1, 1, 2, "CT", "axial"),
        instance(1, 1, 3, "CT", "axial"),
        instance(1, 2, 1, "MR", "t1"),
        instance(1, 2, 2, "MR", "t1"),
        instance(2, 1, 1, "CT", "other"),
    ];
    assert_eq!(StowResult::from(app.stow(&parts).await).await.status, 200);
    assert_eq!(app.counts().await, (2, 3, 6));
    assert_eq!(app.blob_count().await, 6);
    assert_eq!(
        study_counts(&app, 1).await,
        Some((2, 5, vec!["CT".into(), "MR".into()]))
    );
    let created: Vec<_> = ["1.1.1", "1.1.2", "1.1.3", "1.2.1", "1.2.2", "2.1.1"]
        .iter()
        .map(|s| triple("create", s, "current"))
        .collect();
    assert_eq!(feed(&app).await, created);

    // Unknown or malformed targets change nothing.
    let s1 = uid("1");
    let unknown = uid("99");
    for path in [
        format!("/dicom-web/studies/{unknown}"),
        format!("/dicom-web/studies/{s1}/series/{unknown}"),
        format!(
            "/dicom-web/studies/{s1}/series/{}/instances/{unknown}",
            uid("1.1")
        ),
        // A series of study 2 named under study 1.
        format!("/dicom-web/studies/{s1}/series/{}", uid("2.1")),
    ] {
        let (status, body) = delete(&app, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = delete(&app, "/dicom-web/studies/1.2.abc").await;
    assert_eq!(status, 400);
    assert_eq!(app.counts().await, (2, 3, 6));
    assert_eq!(feed(&app).await.len(), 6);

    // One instance.
    let path = format!(
        "/dicom-web/studies/{s1}/series/{}/instances/{}",
        uid("1.1"),
        uid("1.1.1")
    );
    assert_eq!(delete(&app, &path).await.0, 204);
    assert_eq!(delete(&app, &path).await.0, 404, "already gone");
    assert_eq!(app.counts().await, (2, 3, 5));
    assert_eq!(app.blob_count().await, 5);
    assert_eq!(
        study_counts(&app, 1).await,
        Some((2, 4, vec!["CT".into(), "MR".into()]))
    );
    assert_eq!(app.series(&uid("1.1")).await.unwrap().num_instances, 2);
    let (status, _) = get_json(&app, &format!("{path}/metadata")).await;
    assert_eq!(status, 404, "WADO no longer finds it");

    // A whole series: the study's modalities lose MR.
    let path = format!("/dicom-web/studies/{s1}/series/{}", uid("1.2"));
    assert_eq!(delete(&app, &path).await.0, 204);
    assert_eq!(app.counts().await, (2, 2, 3));
    assert_eq!(app.blob_count().await, 3);
    assert_eq!(study_counts(&app, 1).await, Some((1, 2, vec!["CT".into()])));
    assert!(app.series(&uid("1.2")).await.is_none());
    let (status, studies) =
        get_json(&app, &format!("/dicom-web/studies?StudyInstanceUID={s1}")).await;
    assert_eq!(status, 200);
    assert_eq!(studies[0]["00080061"]["Value"], serde_json::json!(["CT"]));
    assert_eq!(studies[0]["00201206"]["Value"], serde_json::json!([1]));
    assert_eq!(studies[0]["00201208"]["Value"], serde_json::json!([2]));

    // A deleted instance can be stored again; an overwrite replaces the current version.
    assert_eq!(
        StowResult::from(app.stow(&parts[..1]).await).await.status,
        200
    );
    let changed = instance(1, 1, 2, "CT", "axial, again");
    assert_eq!(
        StowResult::from(app.stow(std::slice::from_ref(&changed)).await)
            .await
            .status,
        200
    );
    assert!(app.stored_bytes(&uid("1.1.2")).await == changed);
    assert_eq!(app.counts().await, (2, 2, 4));
    assert_eq!(app.blob_count().await, 4, "the replaced blob is gone");

    let mut expected = vec![
        triple("create", "1.1.1", "deleted"),
        triple("create", "1.1.2", "replaced"),
        triple("create", "1.1.3", "current"),
        triple("create", "1.2.1", "deleted"),
        triple("create", "1.2.2", "deleted"),
        triple("create", "2.1.1", "current"),
        triple("delete", "1.1.1", "deleted"),
        triple("delete", "1.2.1", "deleted"),
        triple("delete", "1.2.2", "deleted"),
        triple("create", "1.1.1", "current"),
        triple("update", "1.1.2", "current"),
    ];
    assert_eq!(feed(&app).await, expected);

    // Metadata comes with current entries only; paging by startAfter and limit.
    let (status, page) = get_json(&app, "/dicom-web/changefeed?startAfter=9&limit=2").await;
    assert_eq!(status, 200);
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["Sequence"], 10);
    assert_eq!(
        page[0]["Metadata"]["00080018"]["Value"][0].as_str(),
        Some(uid("1.1.1").as_str())
    );
    assert_eq!(
        page[1]["Metadata"]["0008103E"]["Value"][0].as_str(),
        Some("axial, again")
    );
    let (_, deleted) = get_json(&app, "/dicom-web/changefeed?startAfter=6&limit=1").await;
    assert_eq!(deleted[0]["Action"], "delete");
    assert_eq!(deleted[0]["Metadata"], Value::Null);
    assert!(deleted[0]["Timestamp"].as_str().unwrap().ends_with('Z'));
    let (_, bare) = get_json(&app, "/dicom-web/changefeed?includeMetadata=false&limit=1").await;
    assert!(bare[0].get("Metadata").is_none());
    let (status, latest) = get_json(&app, "/dicom-web/changefeed/latest").await;
    assert_eq!(status, 200);
    assert_eq!(latest["Sequence"], 11);
    assert_eq!(latest["Action"], "update");
    assert_eq!(
        latest["Metadata"]["00080018"]["Value"][0].as_str(),
        Some(uid("1.1.2").as_str())
    );
    for bad in [
        "startAfter=-1",
        "startAfter=x",
        "limit=0",
        "limit=100001",
        "includeMetadata=maybe",
        "since=3",
    ] {
        let (status, body) = get_json(&app, &format!("/dicom-web/changefeed?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // The whole study.
    assert_eq!(
        delete(&app, &format!("/dicom-web/studies/{s1}")).await.0,
        204
    );
    assert_eq!(app.counts().await, (1, 1, 1));
    assert_eq!(app.blob_count().await, 1);
    assert!(app.study(&s1).await.is_none());
    let (status, found) =
        get_json(&app, &format!("/dicom-web/studies?StudyInstanceUID={s1}")).await;
    assert_eq!((status, found), (200, Value::Array(vec![])));
    let (status, _) = get_json(&app, &format!("/dicom-web/studies/{s1}/metadata")).await;
    assert_eq!(status, 404);
    for entry in &mut expected {
        if entry.1.starts_with("1.") {
            entry.2 = "deleted".into();
        }
    }
    expected.push(triple("delete", "1.1.1", "deleted"));
    expected.push(triple("delete", "1.1.2", "deleted"));
    expected.push(triple("delete", "1.1.3", "deleted"));
    let mut got = feed(&app).await;
    // The three deletes of one request share a transaction; their order is the index's.
    got[11..].sort();
    assert_eq!(got, expected);
    assert_eq!(study_counts(&app, 2).await, Some((1, 1, vec!["CT".into()])));

    // FHIR: a deleted study answers 410 Gone, one never stored 404, the other is current.
    let (status, outcome) = get_json(&app, &format!("/fhir/ImagingStudy/{s1}")).await;
    assert_eq!(status, 410, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "deleted");
    let (status, _) = get_json(&app, &format!("/fhir/ImagingStudy/{unknown}")).await;
    assert_eq!(status, 404);
    let (status, other) = get_json(&app, &format!("/fhir/ImagingStudy/{}", uid("2"))).await;
    assert_eq!(status, 200);
    assert_eq!(other["numberOfInstances"], 1);
}

/// A crash after the index commit and before the blobs go leaves orphan blobs, which the
/// sweeper removes; never a row without its blob.
#[tokio::test]
async fn a_delete_interrupted_before_the_blobs_leaves_only_orphans() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let parts: Vec<Bytes> = (1..=3).map(|n| instance(3, 1, n, "CT", "x")).collect();
    assert_eq!(StowResult::from(app.stow(&parts).await).await.status, 200);
    // The index step alone, as if the process died right after its commit.
    let deleted = app
        .state
        .index
        .delete(tessera::index::DeleteTarget {
            study: tessera_dicom::uid::StudyUid::parse(&uid("3")).unwrap(),
            series: None,
            sop: None,
        })
        .await
        .unwrap()
        .expect("the study was stored");
    assert_eq!(deleted.instances, 3);
    assert_eq!(deleted.blobs.len(), 3);
    assert_eq!(app.counts().await, (0, 0, 0));
    assert_eq!(app.blob_count().await, 3, "orphans until the sweep");
    let report = tessera::ingest::sweep::sweep_orphans(
        &app.state.store,
        &app.state.index,
        Duration::ZERO,
        std::time::SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.deleted, 3);
    app.assert_empty("after the sweep").await;
}

/// Two nodes on one PostgreSQL store and delete at once while a reader follows the feed
/// with startAfter: it must see every entry exactly once, in order, with no gaps, i.e. no
/// entry ever commits behind one a reader has already seen.
#[tokio::test]
async fn feed_sequence_never_goes_backwards_with_two_nodes() {
    let a = TestApp::spawn(Backend::POSTGRES_LOCAL).await;
    let b = TestApp::start(a.settings.clone(), Arc::clone(&a.dir)).await;
    let a = Arc::new(a);
    let b = Arc::new(b);

    const WRITERS: u32 = 6;
    const PER_WRITER: u32 = 25;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let a = Arc::clone(&a);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut after = 0i64;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (status, page) = get_json(
                    &a,
                    &format!(
                        "/dicom-web/changefeed?startAfter={after}&limit=7&includeMetadata=false"
                    ),
                )
                .await;
                assert_eq!(status, 200);
                let page = page.as_array().unwrap().clone();
                for entry in &page {
                    let seq = entry["Sequence"].as_i64().unwrap();
                    assert!(seq > after, "sequence went backwards: {seq} after {after}");
                    seen.push(seq);
                    after = seq;
                }
                if page.is_empty() {
                    if finished {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let node = if w % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        writers.push(tokio::spawn(async move {
            for n in 1..=PER_WRITER {
                let part = instance(10 + w, 1, n, "CT", "race");
                let result = StowResult::from(node.stow(std::slice::from_ref(&part)).await).await;
                assert_eq!(result.status, 200);
                if n % 5 == 0 {
                    let path = format!(
                        "/dicom-web/studies/{}/series/{}/instances/{}",
                        uid(&(10 + w).to_string()),
                        uid(&format!("{}.1", 10 + w)),
                        uid(&format!("{}.1.{n}", 10 + w))
                    );
                    assert_eq!(delete(&node, &path).await.0, 204);
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let total = (WRITERS * PER_WRITER + WRITERS * PER_WRITER / 5) as i64;
    let expected: Vec<i64> = (1..=total).collect();
    assert_eq!(seen.len(), expected.len(), "every entry seen once");
    assert_eq!(seen, expected, "in order, without gaps");
    let sops: BTreeSet<String> = feed(&a).await.into_iter().map(|(_, sop, _)| sop).collect();
    assert_eq!(sops.len(), (WRITERS * PER_WRITER) as usize);
}
