//! The FHIR push against the real test FHIR server (tests/support/fhir-server, which validates every
//! body it is sent): ImagingStudy, Endpoint and Patient kept current through stores,
//! overwrites and deletes; and the outbox: the server down during 200 stores and a restart of
//! Tessera, then up, and every study ends in the right state there.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use serde_json::Value;
use tessera::config::Settings;
use tessera::index::DuplicatePolicy;

use crate::fhir_server::{self, entries, fhir_url, search};
use crate::helpers::*;
use crate::qido_fixtures::{Part10, CT, MR};

backend_tests! {
    // On PostgreSQL too for the worker's cursor and lease there.
    every_index_on_local_disk => [push_keeps_the_fhir_server_current];
}

/// A UID root of this run's own: the test server keeps what earlier runs sent.
pub(crate) fn root() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("2.25.{}{}", std::process::id(), nanos % 1_000_000_000_000)
}

pub(crate) struct Corpus {
    pub(crate) root: String,
}

impl Corpus {
    pub(crate) fn study(&self, study: u32) -> String {
        format!("{}.{study}", self.root)
    }

    pub(crate) fn series(&self, study: u32, series: u32) -> String {
        format!("{}.{study}.{series}", self.root)
    }

    pub(crate) fn sop(&self, study: u32, series: u32, n: u32) -> String {
        format!("{}.{study}.{series}.{n}", self.root)
    }

    fn patient_id(&self, study: u32) -> String {
        format!("PUSH-{}-{study}", &self.root[5..])
    }

    pub(crate) fn instance(
        &self,
        study: u32,
        series: u32,
        n: u32,
        modality: &str,
        description: &str,
    ) -> Bytes {
        let class = if modality == "MR" { MR } else { CT };
        Part10::new(class, &self.sop(study, series, n))
            .text(tags::STUDY_INSTANCE_UID, VR::UI, &self.study(study))
            .text(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                &self.series(study, series),
            )
            .text(tags::MODALITY, VR::CS, modality)
            .text(tags::PATIENT_ID, VR::LO, &self.patient_id(study))
            .text(tags::PATIENT_NAME, VR::PN, "Push^Patient")
            .text(tags::ACCESSION_NUMBER, VR::SH, &format!("ACC{study}"))
            .text(tags::STUDY_DATE, VR::DA, "20261127")
            .text(tags::SERIES_DESCRIPTION, VR::LO, description)
            .text(tags::SERIES_NUMBER, VR::IS, &series.to_string())
            .text(tags::INSTANCE_NUMBER, VR::IS, &n.to_string())
            .pixels(4, 4, 1)
            .build()
    }
}

fn with_push(settings: &mut Settings) {
    settings.duplicate_policy = DuplicatePolicy::Overwrite;
    settings.fhir_url = Some(fhir_url());
}

/// The ImagingStudy resources the FHIR server holds for a study UID.
pub(crate) async fn remote_studies(study: &str) -> Vec<Value> {
    entries(
        &search(
            "ImagingStudy",
            &format!("identifier=urn:dicom:uid|urn:oid:{study}"),
        )
        .await,
    )
}

/// Wait until `check` holds for what the FHIR server has (or fail after `limit`).
pub(crate) async fn eventually<F>(limit: Duration, what: &str, mut check: F)
where
    F: AsyncFnMut() -> Result<(), String>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if start.elapsed() > limit => {
                panic!("{what}: not reached within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, path: &str) -> u16 {
    app.client
        .delete(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) fn summary(study: &Value) -> (u64, u64, Vec<String>) {
    let mut modalities: Vec<String> = study["modality"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|c| c["code"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    modalities.sort();
    (
        study["numberOfSeries"].as_u64().unwrap_or(0),
        study["numberOfInstances"].as_u64().unwrap_or(0),
        modalities,
    )
}

async fn push_keeps_the_fhir_server_current(backend: Backend) {
    let _server = fhir_server::lock_shared().await;
    let app = TestApp::spawn_with(backend, with_push).await;
    let c = Corpus { root: root() };
    let parts = vec![
        c.instance(1, 1, 1, "CT", "axial"),
        c.instance(1, 1, 2, "CT", "axial"),
        c.instance(1, 1, 3, "CT", "axial"),
        c.instance(1, 2, 1, "MR", "t1"),
        c.instance(1, 2, 2, "MR", "t1"),
    ];
    assert_eq!(StowResult::from(app.stow(&parts).await).await.status, 200);
    let study = c.study(1);

    let wait = Duration::from_secs(30);
    eventually(wait, "the study arrives", async || {
        let found = remote_studies(&study).await;
        match found.as_slice() {
            [one] if summary(one) == (2, 5, vec!["CT".into(), "MR".into()]) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let remote = remote_studies(&study).await.remove(0);
    assert_eq!(remote["status"], "available");
    assert_eq!(remote["identifier"][0]["value"], format!("urn:oid:{study}"));
    let series: BTreeMap<String, u64> = remote["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["uid"].as_str().unwrap().to_string(),
                s["numberOfInstances"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        series,
        BTreeMap::from([(c.series(1, 1), 3), (c.series(1, 2), 2)])
    );
    // The subject is the Patient found or created by identifier, and it exists there.
    let reference = remote["subject"]["reference"]
        .as_str()
        .expect("subject reference");
    let patients = entries(&search("Patient", &format!("identifier={}", c.patient_id(1))).await);
    assert_eq!(patients.len(), 1, "one Patient for the identifier");
    assert_eq!(
        reference,
        format!("Patient/{}", patients[0]["id"].as_str().unwrap())
    );
    assert_eq!(patients[0]["identifier"][0]["value"], c.patient_id(1));
    // The Endpoint it points to is there, with this archive's DICOMweb root.
    let endpoint_ref = remote["endpoint"][0]["reference"].as_str().unwrap();
    let client = reqwest::Client::new();
    let (status, _, endpoint) =
        fhir_server::request(client.get(format!("{}/{endpoint_ref}", fhir_url()))).await;
    assert_eq!(status, 200);
    assert_eq!(endpoint["address"], format!("{}/dicom-web", app.base));
    assert_eq!(endpoint["connectionType"]["code"], "dicom-wado-rs");

    // An overwrite shows there (of the series' first instance, whose attributes the
    // ImagingStudy's series carry).
    let changed = c.instance(1, 1, 1, "CT", "axial, corrected");
    assert_eq!(
        StowResult::from(app.stow(std::slice::from_ref(&changed)).await)
            .await
            .status,
        200
    );
    let series_uid = c.series(1, 1);
    eventually(wait, "the overwrite arrives", async || {
        let found = remote_studies(&study).await;
        let description = found
            .first()
            .and_then(|s| s["series"].as_array())
            .and_then(|list| list.iter().find(|s| s["uid"] == series_uid.as_str()))
            .map(|s| s["description"].clone());
        match description {
            Some(Value::String(d)) if d == "axial, corrected" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // A deleted series, then the whole study.
    let path = format!("/dicom-web/studies/{study}/series/{}", c.series(1, 2));
    assert_eq!(delete(&app, &path).await, 204);
    eventually(wait, "the series delete arrives", async || {
        let found = remote_studies(&study).await;
        match found.as_slice() {
            [one] if summary(one) == (1, 3, vec!["CT".into()]) => Ok(()),
            other => Err(format!(
                "{:?}",
                other.iter().map(summary).collect::<Vec<_>>()
            )),
        }
    })
    .await;
    assert_eq!(
        delete(&app, &format!("/dicom-web/studies/{study}")).await,
        204
    );
    eventually(wait, "the study delete arrives", async || {
        let found = remote_studies(&study).await;
        if found.is_empty() {
            Ok(())
        } else {
            Err(format!("{} left", found.len()))
        }
    })
    .await;
    let text = metrics(&app).await;
    assert!(metric(&text, "tessera_fhir_pushed_total") >= 4);
    assert_eq!(metric(&text, "tessera_fhir_push_rejected_total"), 0);
}

#[tokio::test]
async fn outbox_survives_an_outage_and_a_restart() {
    let _server = fhir_server::lock_exclusive().await;
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, with_push).await;
    let c = Arc::new(Corpus { root: root() });
    tokio::task::spawn_blocking(fhir_server::stop_server)
        .await
        .unwrap();

    // 200 stores while the FHIR server is down: 20 studies of 10 instances, 5 per request,
    // 4 requests at a time.
    let first_change = Instant::now();
    const STUDIES: u32 = 20;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for lane in 0..4u32 {
        let app = Arc::clone(&app);
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move {
            for study in (0..STUDIES).filter(|s| s % 4 == lane) {
                for half in 0..2u32 {
                    let parts: Vec<Bytes> = (1..=5)
                        .map(|n| c.instance(study, 1, half * 5 + n, "CT", "outage"))
                        .collect();
                    let result = StowResult::from(app.stow(&parts).await).await;
                    assert_eq!(result.status, 200);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(app.counts().await.2, 200);
    // Also while it is down: study 0 deleted, one instance of study 1 deleted.
    assert_eq!(
        delete(&app, &format!("/dicom-web/studies/{}", c.study(0))).await,
        204
    );
    let path = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        c.study(1),
        c.series(1, 1),
        c.sop(1, 1, 10)
    );
    assert_eq!(delete(&app, &path).await, 204);
    // The push is failing and retrying, and has not moved past what it could not send.
    eventually(Duration::from_secs(20), "retries counted", async || {
        let text = metrics(&app).await;
        let retries = metric(&text, "tessera_fhir_push_retries_total");
        let lag = metric(&text, "tessera_fhir_push_lag");
        if retries >= 2 && lag >= 200 {
            Ok(())
        } else {
            Err(format!("retries {retries}, lag {lag}"))
        }
    })
    .await;
    assert_eq!(
        metric(&metrics(&app).await, "tessera_fhir_pushed_total"),
        0,
        "nothing could be sent"
    );

    // Tessera restarts while the server is still down.
    let app = Arc::try_unwrap(app).unwrap_or_else(|_| panic!("app still shared"));
    let settings = app.settings.clone();
    let dir = Arc::clone(&app.dir);
    app.stop().await;
    let app = TestApp::start(settings, dir).await;
    // The restarted Tessera takes up the outbox it left and fails against the server still
    // down: a retry counted by this process, with every change from before the restart
    // still ahead of its cursor. Only then does the server come back.
    eventually(
        Duration::from_secs(60),
        "the restarted Tessera retries",
        async || {
            let text = metrics(&app).await;
            let retries = metric(&text, "tessera_fhir_push_retries_total");
            let lag = metric(&text, "tessera_fhir_push_lag");
            // The oldest unsent change is the first store of this test.
            let age = metric(&text, "tessera_fhir_push_oldest_unsent_seconds");
            let bound = first_change.elapsed().as_secs() + 1;
            if retries >= 1 && lag >= 200 && age >= 1 && age <= bound {
                Ok(())
            } else {
                Err(format!(
                    "retries {retries}, lag {lag}, oldest unsent {age} s (at most {bound})"
                ))
            }
        },
    )
    .await;
    tokio::task::spawn_blocking(fhir_server::start_server)
        .await
        .unwrap();

    // Every study ends in the right state there.
    eventually(Duration::from_secs(90), "every study arrives", async || {
        for study in 0..STUDIES {
            let found = remote_studies(&c.study(study)).await;
            let expected = match study {
                0 => None,
                1 => Some((1, 9, vec!["CT".to_string()])),
                _ => Some((1, 10, vec!["CT".to_string()])),
            };
            let got = match found.as_slice() {
                [] => None,
                [one] => Some(summary(one)),
                more => return Err(format!("study {study}: {} copies", more.len())),
            };
            if got != expected {
                return Err(format!("study {study}: {got:?}, expected {expected:?}"));
            }
        }
        Ok(())
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the cursor catches up",
        async || {
            let text = metrics(&app).await;
            let lag = metric(&text, "tessera_fhir_push_lag");
            let age = metric(&text, "tessera_fhir_push_oldest_unsent_seconds");
            if lag == 0 && age == 0 {
                Ok(())
            } else {
                Err(format!("lag {lag}, oldest unsent {age} s"))
            }
        },
    )
    .await;
    let text = metrics(&app).await;
    assert_eq!(metric(&text, "tessera_fhir_push_rejected_total"), 0);
    // Coalesced: one push per study of a batch, not one per instance.
    let pushed = metric(&text, "tessera_fhir_pushed_total");
    assert!(
        (u64::from(STUDIES)..=u64::from(STUDIES) * 3).contains(&pushed),
        "{pushed} pushes for {STUDIES} studies"
    );
    let patients = entries(&search("Patient", &format!("identifier={}", c.patient_id(5))).await);
    assert_eq!(patients.len(), 1);
}

/// Two nodes on one PostgreSQL, both configured to push: the lease lets one of them push; when
/// it stops (and releases the lease) the other takes over.
#[tokio::test]
async fn one_node_pushes_and_another_takes_over() {
    let _server = fhir_server::lock_shared().await;
    let a = TestApp::spawn_with(Backend::POSTGRES_LOCAL, with_push).await;
    let b = TestApp::start(a.settings.clone(), Arc::clone(&a.dir)).await;
    let c = Corpus { root: root() };
    for study in 1..=3u32 {
        let node = if study % 2 == 0 { &a } else { &b };
        let part = c.instance(study, 1, 1, "CT", "lease");
        assert_eq!(
            StowResult::from(node.stow(std::slice::from_ref(&part)).await)
                .await
                .status,
            200
        );
    }
    let wait = Duration::from_secs(30);
    for study in 1..=3u32 {
        let uid = c.study(study);
        eventually(wait, "each study arrives", async || {
            match remote_studies(&uid).await.as_slice() {
                [one] if summary(one).1 == 1 => Ok(()),
                other => Err(format!("{} copies", other.len())),
            }
        })
        .await;
    }
    let pushed_a = metric(&metrics(&a).await, "tessera_fhir_pushed_total");
    let pushed_b = metric(&metrics(&b).await, "tessera_fhir_pushed_total");
    assert!(
        (pushed_a == 0) != (pushed_b == 0),
        "exactly one node pushes: {pushed_a} and {pushed_b}"
    );
    let (holder, other) = if pushed_a > 0 { (a, b) } else { (b, a) };
    holder.stop().await;
    let part = c.instance(4, 1, 1, "CT", "after the handover");
    assert_eq!(
        StowResult::from(other.stow(std::slice::from_ref(&part)).await)
            .await
            .status,
        200
    );
    let uid = c.study(4);
    eventually(
        wait,
        "the other node takes over",
        async || match remote_studies(&uid).await.as_slice() {
            [_] => Ok(()),
            other => Err(format!("{} copies", other.len())),
        },
    )
    .await;
    assert!(metric(&metrics(&other).await, "tessera_fhir_pushed_total") >= 1);
}
