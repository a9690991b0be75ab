//! The index write across requests, on both databases: a study whose attributes, series
//! modalities and names change from one request to the next must end with the same rows,
//! QIDO answers and fuzzy-match words as the same instances stored in one request; and its
//! counts, ModalitiesInStudy and words must be right after every step (the writer reuses
//! what it stored when nothing changed, and must notice when something did).

use bytes::Bytes;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use serde_json::Value;
use tessera::index::DuplicatePolicy;

use crate::helpers::*;
use crate::qido_fixtures::{Part10, CT, MR};

backend_tests! {
    every_index_in_memory => [attributes_change_between_requests];
}

const ROOT: &str = "1.2.826.0.1.3680043.10.1407.7";

fn uid(suffix: &str) -> String {
    format!("{ROOT}.{suffix}")
}

/// Instance `n` of series `series` of the one study, with these attributes.
fn instance(series: u32, n: u32, modality: &str, patient: &str, referring: &str) -> Bytes {
    let class = if modality == "MR" { MR } else { CT };
    Part10::new(class, &uid(&format!("1.{series}.{n}")))
        .text(tags::STUDY_INSTANCE_UID, VR::UI, &uid("1"))
        .text(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &uid(&format!("1.{series}")),
        )
        .text(tags::MODALITY, VR::CS, modality)
        .text(tags::PATIENT_ID, VR::LO, "WRITE-1")
        .text(tags::PATIENT_NAME, VR::PN, patient)
        .text_if(tags::REFERRING_PHYSICIAN_NAME, VR::PN, referring)
        .text(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            &format!("{modality} {series}"),
        )
        .text(tags::INSTANCE_NUMBER, VR::IS, &n.to_string())
        .pixels(4, 4, 1)
        .build()
}

/// The steps, one request each: the same attributes again; a series changing modality and
/// the names changing; a new series with a modality not yet listed; one with a listed one.
fn steps() -> Vec<Bytes> {
    vec![
        instance(1, 1, "CT", "Alpha^One", ""),
        instance(1, 2, "CT", "Alpha^One", ""),
        instance(1, 3, "MR", "Beta^Two", "Doctor^Who"),
        instance(2, 1, "CT", "Beta^Two", "Doctor^Who"),
        instance(3, 1, "CT", "Beta^Two", "Doctor^Who"),
    ]
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    match status {
        200 => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
        204 => Value::Array(Vec::new()),
        other => panic!("{path}: status {other}: {text}"),
    }
}

async fn stow(app: &TestApp, parts: &[Bytes]) {
    let result = StowResult::from(app.stow(parts).await).await;
    assert_eq!(result.status, 200, "{:?} {}", result.warning, result.body);
}

/// (series, instances, ModalitiesInStudy) of the study.
async fn study_counts(app: &TestApp) -> (i64, i64, Vec<String>) {
    let row = app.study(&uid("1")).await.expect("the study row");
    (row.num_series, row.num_instances, row.modalities_in_study)
}

/// How many studies a fuzzy PatientName / ReferringPhysicianName search finds.
async fn fuzzy(app: &TestApp, attribute: &str, word: &str) -> usize {
    let path = format!("/dicom-web/studies?{attribute}={word}&fuzzymatching=true");
    get_json(app, &path).await.as_array().unwrap().len()
}

/// What QIDO answers about the study and its series, without the Retrieve URLs (which name
/// the server).
async fn answers(app: &TestApp) -> Vec<Value> {
    let study = format!("/dicom-web/studies?StudyInstanceUID={}", uid("1"));
    let mut answers = vec![
        get_json(app, &study).await,
        get_json(app, &format!("/dicom-web/studies/{}/series", uid("1"))).await,
        get_json(app, "/dicom-web/studies?ModalitiesInStudy=CT").await,
        get_json(app, "/dicom-web/studies?ModalitiesInStudy=MR").await,
        get_json(app, "/dicom-web/studies?PatientName=Beta*").await,
    ];
    for answer in &mut answers {
        for item in answer.as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("00081190");
        }
    }
    answers
}

async fn sequences(app: &TestApp) -> Vec<i64> {
    get_json(
        app,
        "/dicom-web/changefeed?limit=10000&includeMetadata=false",
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|e| e["Sequence"].as_i64().unwrap())
    .collect()
}

async fn attributes_change_between_requests(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.duplicate_policy = DuplicatePolicy::Overwrite;
    })
    .await;
    let steps = steps();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // After each step: counts, ModalitiesInStudy, and which names the words match.
    let expected = [
        (1, 1, strings(&["CT"]), (1, 0, 0)),
        (1, 2, strings(&["CT"]), (1, 0, 0)),
        (1, 3, strings(&["MR"]), (0, 1, 1)),
        (2, 4, strings(&["CT", "MR"]), (0, 1, 1)),
        (3, 5, strings(&["CT", "MR"]), (0, 1, 1)),
    ];
    for (step, (part, (series, instances, modalities, words))) in
        steps.iter().zip(expected).enumerate()
    {
        stow(&app, std::slice::from_ref(part)).await;
        assert_eq!(
            study_counts(&app).await,
            (series, instances, modalities),
            "after step {step}"
        );
        let found = (
            fuzzy(&app, "PatientName", "alpha").await,
            fuzzy(&app, "PatientName", "beta").await,
            fuzzy(&app, "ReferringPhysicianName", "doctor").await,
        );
        assert_eq!(found, words, "fuzzy matches after step {step}");
    }
    let series: Vec<_> = [1, 2, 3].map(|n| uid(&format!("1.{n}"))).into();
    let mut rows = Vec::new();
    for s in &series {
        let row = app.series(s).await.expect("series row");
        rows.push((row.modality, row.num_instances));
    }
    assert_eq!(
        rows,
        vec![
            (Some("MR".to_string()), 3),
            (Some("CT".to_string()), 1),
            (Some("CT".to_string()), 1)
        ]
    );
    assert_eq!(sequences(&app).await, (1..=5).collect::<Vec<i64>>());

    // The same instances in one request: the same answers (QIDO members stored with the
    // rows, counts, modalities, words).
    let batch = TestApp::spawn_with(backend, |s| {
        s.duplicate_policy = DuplicatePolicy::Overwrite;
    })
    .await;
    stow(&batch, &steps).await;
    assert_eq!(answers(&app).await, answers(&batch).await);
    assert_eq!(sequences(&batch).await, (1..=5).collect::<Vec<i64>>());

    // An overwrite that moves instance 3.1 into series 1 empties series 3: it goes, and the
    // study's and series' stored members follow the recount.
    stow(&app, &[instance(1, 4, "MR", "Beta^Two", "Doctor^Who")]).await;
    let moved = Part10::new(CT, &uid("1.3.1"))
        .text(tags::STUDY_INSTANCE_UID, VR::UI, &uid("1"))
        .text(tags::SERIES_INSTANCE_UID, VR::UI, &uid("1.1"))
        .text(tags::MODALITY, VR::CS, "MR")
        .text(tags::PATIENT_ID, VR::LO, "WRITE-1")
        .text(tags::PATIENT_NAME, VR::PN, "Beta^Two")
        .text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Doctor^Who")
        .text(tags::SERIES_DESCRIPTION, VR::LO, "MR 1")
        .text(tags::INSTANCE_NUMBER, VR::IS, "5")
        .pixels(4, 4, 1)
        .build();
    stow(&app, &[moved]).await;
    assert_eq!(
        study_counts(&app).await,
        (2, 6, strings(&["CT", "MR"])),
        "after the move"
    );
    assert!(app.series(&series[2]).await.is_none(), "series 3 emptied");
    let study = &answers(&app).await[0][0];
    assert_eq!(study["00201206"]["Value"][0], 2, "{study}");
    assert_eq!(study["00201208"]["Value"][0], 6, "{study}");
    let listed = get_json(&app, &format!("/dicom-web/studies/{}/series", uid("1"))).await;
    let counts: Vec<(Value, Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["0020000E"]["Value"][0].clone(),
                s["00201209"]["Value"][0].clone(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            (Value::from(series[0].clone()), Value::from(5)),
            (Value::from(series[1].clone()), Value::from(1)),
        ]
    );
    assert_eq!(sequences(&app).await, (1..=7).collect::<Vec<i64>>());
    app.stop().await;
    batch.stop().await;
}
