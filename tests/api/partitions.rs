//! Partitions (issue 19): independent collections in one archive under
//! `/dicom-web/partitions/{name}/...`. The same SOP Instance UID is stored in the default
//! partition and in partition `a` with other content, then every DICOMweb route is asked
//! in both and must answer from its own partition only (bytes, counts, values); deletes in
//! one leave the other; unknown and badly named partitions; callers limited to a partition
//! (API key, token claim); audit records naming the partition; a restart; a second node.

use std::time::Duration;

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use serde_json::{json, Value};
use tessera::audit::{AuditQuery, AuditRecord};
use tessera::ops::archive::Archive;
use tessera::ops::check::{check, CheckOptions};

use crate::auth_support::*;
use crate::helpers::*;
use crate::qido_fixtures::{Part10, CT};
use crate::wado_support::{get, get_parts, DICOM_ANY};

backend_tests! {
    every_index_on_local_disk => [
        every_route_answers_from_its_own_partition,
        partitions_survive_a_restart,
        operators_commands_take_a_partition,
    ];
    every_index_in_memory => [every_route_answers_from_its_own_partition];
    every_index_on_s3 => [every_route_answers_from_its_own_partition];
}

const STUDY: &str = "2.25.4242001";
const SERIES: &str = "2.25.4242001.1";
const SOP: &str = "2.25.4242001.1.1";
/// Only in partition `a`.
const SOP_A2: &str = "2.25.4242001.1.2";
const ROWS: u16 = 32;
const FRAME: usize = 32 * 32;

/// One instance of the shared study: two 32x32 8-bit frames, every pixel `value`.
fn instance(sop: &str, patient: &str, value: u8) -> Bytes {
    let pixels = vec![value; FRAME * 2];
    Part10::new(CT, sop)
        .text(tags::STUDY_INSTANCE_UID, VR::UI, STUDY)
        .text(tags::SERIES_INSTANCE_UID, VR::UI, SERIES)
        .text(tags::PATIENT_ID, VR::LO, patient)
        .text(tags::PATIENT_NAME, VR::PN, &format!("{patient}^Name"))
        .text(tags::MODALITY, VR::CS, "CT")
        .text(tags::STUDY_DATE, VR::DA, "20260101")
        // A fixed window: a rendered pixel keeps its stored value.
        .text(tags::WINDOW_CENTER, VR::DS, "127.5")
        .text(tags::WINDOW_WIDTH, VR::DS, "256")
        .pixels(ROWS, ROWS, 2)
        .element(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(pixels),
        ))
        .build()
}

/// The default partition's copy, and partition `a`'s two.
fn default_copy() -> Bytes {
    instance(SOP, "DEFAULT-PAT", 10)
}
fn a_copy() -> Bytes {
    instance(SOP, "A-PAT", 200)
}
fn a_second() -> Bytes {
    instance(SOP_A2, "A-PAT", 201)
}

/// `/dicom-web` or `/dicom-web/partitions/{name}`.
fn root(partition: Option<&str>) -> String {
    match partition {
        Some(name) => format!("/dicom-web/partitions/{name}"),
        None => "/dicom-web".into(),
    }
}

async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "unparsed": String::from_utf8_lossy(&bytes).to_string() }));
    (status, value)
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    status_and_json(get(app, path, &[]).await).await
}

async fn create(app: &TestApp, name: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/dicom-web/partitions"))
        .header("content-type", "application/json")
        .body(json!({ "name": name }).to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    status_and_json(request.send().await.unwrap()).await
}

fn text(value: &Value, tag: &str) -> String {
    value[tag]["Value"][0]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn number(value: &Value, tag: &str) -> i64 {
    let v = &value[tag]["Value"][0];
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(-1)
}

/// Store the three copies: one in the default partition, two in `a`.
async fn store_both(app: &TestApp) {
    let stored = StowResult::from(app.stow(&[default_copy()]).await).await;
    assert_eq!(stored.status, 200, "default: {}", stored.body);
    let stored = StowResult::from(
        app.stow_to("/dicom-web/partitions/a/studies", &[a_copy(), a_second()])
            .await,
    )
    .await;
    assert_eq!(stored.status, 200, "partition a: {}", stored.body);
    // The STOW answer's RetrieveURLs name the partition.
    let url = stored.referenced()[0]["00081190"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.ends_with(&format!(
            "/dicom-web/partitions/a/studies/{STUDY}/series/{SERIES}/instances/{SOP}"
        )),
        "{url}"
    );
}

async fn every_route_answers_from_its_own_partition(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // Creating: 201, then 409; bad names 400; `default` exists always.
    let (status, body) = create(&app, "a", None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "a");
    assert!(body["url"]
        .as_str()
        .unwrap()
        .ends_with("/dicom-web/partitions/a"));
    assert_eq!(create(&app, "a", None).await.0, 409);
    assert_eq!(create(&app, "default", None).await.0, 409);
    for bad in ["Bad", "../x", "a/b", "", "a b", &"x".repeat(61)] {
        let (status, body) = create(&app, bad, None).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body["message"].as_str().unwrap().contains("partition name"));
    }
    let (status, list) = get_json(&app, "/dicom-web/partitions").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "a"]);

    store_both(&app).await;

    // Unknown and badly named partitions, on every kind of route.
    for path in [
        "/dicom-web/partitions/nope/studies".to_string(),
        format!("/dicom-web/partitions/nope/studies/{STUDY}/metadata"),
        "/dicom-web/partitions/nope/changefeed".to_string(),
    ] {
        let (status, body) = get_json(&app, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("no partition is named \"nope\""),
            "{body}"
        );
    }
    let stored = app
        .stow_to("/dicom-web/partitions/nope/studies", &[default_copy()])
        .await;
    assert_eq!(stored.status(), 404, "no auto-create by default");
    let (status, body) = get_json(&app, "/dicom-web/partitions/Nope/studies").await;
    assert_eq!(status, 400, "{body}");

    for (partition, patient, value, count) in
        [(None, "DEFAULT-PAT", 10u8, 1), (Some("a"), "A-PAT", 200, 2)]
    {
        let root = root(partition);
        let what = |route: &str| format!("{route} in {}", partition.unwrap_or("default"));

        // QIDO studies, series, instances: counts and values of this partition only.
        let (status, studies) = get_json(&app, &format!("{root}/studies")).await;
        assert_eq!(status, 200, "{}", what("studies"));
        assert_eq!(studies.as_array().unwrap().len(), 1, "{}", what("studies"));
        assert_eq!(
            text(&studies[0], "00100020"),
            patient,
            "{}",
            what("studies")
        );
        assert_eq!(
            number(&studies[0], "00201208"),
            count,
            "{}",
            what("studies")
        );
        assert!(
            text(&studies[0], "00081190").ends_with(&format!("{root}/studies/{STUDY}")),
            "{}: {}",
            what("RetrieveURL"),
            studies[0]
        );
        let (_, series) = get_json(&app, &format!("{root}/studies/{STUDY}/series")).await;
        assert_eq!(number(&series[0], "00201209"), count, "{}", what("series"));
        let (_, series) = get_json(&app, &format!("{root}/series?PatientID={patient}")).await;
        assert_eq!(series.as_array().unwrap().len(), 1, "{}", what("/series"));
        let other = if partition.is_some() {
            "DEFAULT-PAT"
        } else {
            "A-PAT"
        };
        let (_, none) = get_json(&app, &format!("{root}/studies?PatientID={other}")).await;
        assert_eq!(none, json!([]), "{}", what("the other partition's patient"));
        let (_, instances) =
            get_json(&app, &format!("{root}/instances?StudyInstanceUID={STUDY}")).await;
        assert_eq!(
            instances.as_array().unwrap().len() as i64,
            count,
            "{}",
            what("instances")
        );
        let (_, instances) = get_json(
            &app,
            &format!("{root}/studies/{STUDY}/series/{SERIES}/instances"),
        )
        .await;
        assert_eq!(
            instances.as_array().unwrap().len() as i64,
            count,
            "{}",
            what("series instances")
        );

        // WADO-RS: the instance, the series and the study, byte for byte.
        let sent = if partition.is_some() {
            a_copy()
        } else {
            default_copy()
        };
        let instance = format!("{root}/studies/{STUDY}/series/{SERIES}/instances/{SOP}");
        let parts = get_parts(
            &app,
            &instance,
            &[("accept", DICOM_ANY)],
            "application/dicom",
            &what("instance"),
        )
        .await;
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].body, sent, "{}", what("instance bytes"));
        for scope in [
            format!("{root}/studies/{STUDY}"),
            format!("{root}/studies/{STUDY}/series/{SERIES}"),
        ] {
            let parts = get_parts(
                &app,
                &scope,
                &[("accept", DICOM_ANY)],
                "application/dicom",
                &what(&scope),
            )
            .await;
            assert_eq!(parts.len() as i64, count, "{}", what(&scope));
            assert!(parts.iter().any(|p| p.body == sent), "{}", what(&scope));
        }

        // Metadata: the partition's patient; BulkDataURIs under the partition's root.
        let (status, metadata) = get_json(&app, &format!("{instance}/metadata")).await;
        assert_eq!(status, 200, "{}", what("metadata"));
        assert_eq!(
            text(&metadata[0], "00100020"),
            patient,
            "{}",
            what("metadata")
        );
        let uri = metadata[0]["7FE00010"]["BulkDataURI"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            uri.contains(&format!("{root}/studies/")),
            "{}: {uri}",
            what("BulkDataURI")
        );
        // Twice: the second from the metadata cache, which both partitions share.
        for _ in 0..2 {
            let (_, study_metadata) =
                get_json(&app, &format!("{root}/studies/{STUDY}/metadata")).await;
            assert_eq!(
                study_metadata.as_array().unwrap().len() as i64,
                count,
                "{}",
                what("study metadata")
            );
            assert_eq!(
                text(&study_metadata[0], "00100020"),
                patient,
                "{}",
                what("study metadata")
            );
        }
        let (_, series_metadata) = get_json(
            &app,
            &format!("{root}/studies/{STUDY}/series/{SERIES}/metadata"),
        )
        .await;
        assert_eq!(
            text(&series_metadata[0], "00100020"),
            patient,
            "{}",
            what("series metadata")
        );

        // Bulk data, frames, rendered images: the partition's pixels.
        let path = uri
            .split_once("/dicom-web")
            .map(|(_, p)| format!("/dicom-web{p}"))
            .unwrap();
        let parts = get_parts(
            &app,
            &path,
            &[],
            "application/octet-stream",
            &what("bulk data"),
        )
        .await;
        assert_eq!(
            parts[0].body.as_ref(),
            vec![value; FRAME * 2].as_slice(),
            "{}",
            what("bulk data")
        );
        let parts = get_parts(
            &app,
            &format!("{instance}/frames/2"),
            &[],
            "application/octet-stream",
            &what("frames"),
        )
        .await;
        assert_eq!(
            parts[0].body.as_ref(),
            vec![value; FRAME].as_slice(),
            "{}",
            what("frame 2")
        );
        // Twice: the second from the frame cache, which both partitions share.
        let parts = get_parts(
            &app,
            &format!("{instance}/frames/1"),
            &[],
            "application/octet-stream",
            &what("frames"),
        )
        .await;
        assert_eq!(
            parts[0].body.as_ref(),
            vec![value; FRAME].as_slice(),
            "{}",
            what("frame 1")
        );
        let rendered = get(
            &app,
            &format!("{instance}/rendered"),
            &[("accept", "image/png")],
        )
        .await;
        assert_eq!(rendered.status(), 200, "{}", what("rendered"));
        let png = rendered.bytes().await.unwrap();
        let image = image_pixels(&png);
        let mean = image.iter().map(|&p| u64::from(p)).sum::<u64>() / image.len() as u64;
        assert!(
            mean.abs_diff(u64::from(value)) <= 2,
            "{}: mean {mean}, stored {value}",
            what("rendered")
        );
        let thumbnail = get(
            &app,
            &format!("{root}/studies/{STUDY}/thumbnail"),
            &[("accept", "image/png")],
        )
        .await;
        assert_eq!(thumbnail.status(), 200, "{}", what("thumbnail"));

        // The change feed: this partition's stores only.
        let (_, feed) = get_json(&app, &format!("{root}/changefeed")).await;
        let sops: Vec<&str> = feed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["SopInstanceUid"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = if partition.is_some() {
            vec![SOP, SOP_A2]
        } else {
            vec![SOP]
        };
        assert_eq!(sops, expected, "{}", what("change feed"));
        let (_, latest) = get_json(&app, &format!("{root}/changefeed/latest")).await;
        assert_eq!(latest["Sequence"], json!(count), "{}", what("latest"));

        // `partitions/default` is the plain routes.
        if partition.is_none() {
            let (_, by_name) = get_json(
                &app,
                &format!("/dicom-web/partitions/default/studies/{STUDY}/metadata"),
            )
            .await;
            assert_eq!(text(&by_name[0], "00100020"), "DEFAULT-PAT");
        }
    }

    // The default partition's blobs are listed alone; the sweep of the default does not
    // touch a partition's blobs (they lie under partitions/a/).
    assert_eq!(app.blob_count().await, 1, "the default partition's listing");
    if backend.storage == StorageKind::Local {
        let folder = app
            .dir
            .path()
            .join("blobs/partitions/a/instances")
            .join(STUDY)
            .join(SERIES);
        assert_eq!(
            std::fs::read_dir(&folder).unwrap().count(),
            2,
            "{}",
            folder.display()
        );
    }
    let far = std::time::SystemTime::now() + Duration::from_secs(7200);
    let swept = tessera::ingest::sweep::sweep_orphans(
        &app.state.store,
        &app.state.index,
        Duration::ZERO,
        far,
    )
    .await
    .unwrap();
    assert_eq!((swept.examined, swept.deleted), (1, 0));
    // `tessera check` of the default partition sees no orphan in partition a's blobs, and
    // `--partition a` checks a's (a command opens its own store: not a memory one's).
    if backend.storage != StorageKind::Memory {
        let archive = Archive::open(&app.settings).await.unwrap();
        let options = CheckOptions {
            verify: true,
            repair: false,
            forget_missing: false,
            jobs: 2,
            report: None,
            partition: None,
        };
        let report = check(&archive, &options).await.unwrap();
        assert_eq!(
            (report.rows, report.blobs, report.findings.len()),
            (1, 1, 0),
            "{:?}",
            report.findings
        );
        let partition_archive = Archive::open_partition(&app.settings, "a").await.unwrap();
        let report = check(&partition_archive, &options).await.unwrap();
        assert_eq!(
            (report.rows, report.blobs, report.findings.len()),
            (2, 2, 0),
            "{:?}",
            report.findings
        );
        assert!(Archive::open_partition(&app.settings, "nope")
            .await
            .is_err());
    }

    // Deleting in a leaves the default untouched, and the other way round.
    let deleted = app
        .client
        .delete(app.url(&format!(
            "/dicom-web/partitions/a/studies/{STUDY}/series/{SERIES}/instances/{SOP}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let parts = get_parts(
        &app,
        &format!("/dicom-web/studies/{STUDY}/series/{SERIES}/instances/{SOP}"),
        &[("accept", DICOM_ANY)],
        "application/dicom",
        "default after a's delete",
    )
    .await;
    assert_eq!(parts[0].body, default_copy());
    let (_, studies) = get_json(&app, "/dicom-web/studies").await;
    assert_eq!(number(&studies[0], "00201208"), 1);
    let (_, studies) = get_json(&app, "/dicom-web/partitions/a/studies").await;
    assert_eq!(
        number(&studies[0], "00201208"),
        1,
        "a keeps its other instance"
    );
    let gone = get(
        &app,
        &format!(
            "/dicom-web/partitions/a/studies/{STUDY}/series/{SERIES}/instances/{SOP}/frames/1"
        ),
        &[],
    )
    .await;
    assert_eq!(
        gone.status(),
        404,
        "the frame cache does not serve a's deleted frame"
    );
    let (_, feed) = get_json(&app, "/dicom-web/partitions/a/changefeed").await;
    assert_eq!(feed.as_array().unwrap().len(), 3, "{feed}");
    assert_eq!(feed[2]["Action"], "delete");
    let (_, feed) = get_json(&app, "/dicom-web/changefeed").await;
    assert_eq!(
        feed.as_array().unwrap().len(),
        1,
        "the default's feed: {feed}"
    );

    let deleted = app
        .client
        .delete(app.url(&format!("/dicom-web/studies/{STUDY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (_, studies) = get_json(&app, "/dicom-web/studies").await;
    assert_eq!(studies, json!([]));
    let parts = get_parts(
        &app,
        &format!("/dicom-web/partitions/a/studies/{STUDY}"),
        &[("accept", DICOM_ANY)],
        "application/dicom",
        "a after the default's delete",
    )
    .await;
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].body, a_second());
    // The same SOP Instance UID stored again in a, while the default has none.
    let again = StowResult::from(
        app.stow_to("/dicom-web/partitions/a/studies", &[a_copy()])
            .await,
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    app.stop().await;
}

/// The grey values of a PNG.
fn image_pixels(png: &[u8]) -> Vec<u8> {
    let image = image::load_from_memory(png).expect("a PNG");
    image.to_luma8().into_raw()
}

async fn partitions_survive_a_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(create(&app, "a", None).await.0, 201);
    store_both(&app).await;
    let (settings, dir) = (app.settings.clone(), app.dir.clone());
    app.stop().await;
    let app = TestApp::start(settings, dir).await;
    let (_, list) = get_json(&app, "/dicom-web/partitions").await;
    assert_eq!(list[1]["name"], "a", "{list}");
    let parts = get_parts(
        &app,
        &format!("/dicom-web/partitions/a/studies/{STUDY}/series/{SERIES}/instances/{SOP}"),
        &[("accept", DICOM_ANY)],
        "application/dicom",
        "a after a restart",
    )
    .await;
    assert_eq!(parts[0].body, a_copy());
    let parts = get_parts(
        &app,
        &format!("/dicom-web/studies/{STUDY}/series/{SERIES}/instances/{SOP}"),
        &[("accept", DICOM_ANY)],
        "application/dicom",
        "default after a restart",
    )
    .await;
    assert_eq!(parts[0].body, default_copy());
    app.stop().await;
}

/// Two application instances on one PostgreSQL database and one blob store: a partition
/// created on the first is known to the second, with what was stored into it.
#[tokio::test]
async fn a_second_node_sees_a_partition_created_on_the_first() {
    let first = TestApp::spawn(Backend::POSTGRES_LOCAL).await;
    let second = TestApp::start(first.settings.clone(), first.dir.clone()).await;
    // The second node answered once before the partition existed.
    assert_eq!(
        get_json(&second, "/dicom-web/partitions/a/studies").await.0,
        404
    );
    assert_eq!(create(&first, "a", None).await.0, 201);
    store_both(&first).await;
    let (_, list) = get_json(&second, "/dicom-web/partitions").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let parts = get_parts(
        &second,
        &format!("/dicom-web/partitions/a/studies/{STUDY}/series/{SERIES}/instances/{SOP}"),
        &[("accept", DICOM_ANY)],
        "application/dicom",
        "a on the second node",
    )
    .await;
    assert_eq!(parts[0].body, a_copy());
    // And a STOW through the second node is seen by the first.
    let third = instance("2.25.4242001.1.3", "A-PAT", 7);
    let stored = StowResult::from(
        second
            .stow_to("/dicom-web/partitions/a/studies", &[third])
            .await,
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let (_, studies) = get_json(&first, "/dicom-web/partitions/a/studies").await;
    assert_eq!(number(&studies[0], "00201208"), 3);
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_store_creates_its_partition_when_configured() {
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| s.partition_auto_create = true).await;
    assert_eq!(
        get_json(&app, "/dicom-web/partitions/fresh/studies")
            .await
            .0,
        404,
        "reads create nothing"
    );
    let stored = StowResult::from(
        app.stow_to("/dicom-web/partitions/fresh/studies", &[a_copy()])
            .await,
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let (_, list) = get_json(&app, "/dicom-web/partitions").await;
    assert_eq!(list[1]["name"], "fresh", "{list}");
    let (_, studies) = get_json(&app, "/dicom-web/partitions/fresh/studies").await;
    assert_eq!(text(&studies[0], "00100020"), "A-PAT");
    assert_eq!(get_json(&app, "/dicom-web/studies").await.1, json!([]));
    let bad = app
        .stow_to("/dicom-web/partitions/Bad/studies", &[a_copy()])
        .await;
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, token: &str) -> (u16, String) {
    let response = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn audit_records(app: &TestApp) -> Vec<AuditRecord> {
    app.state.trail.flush().await;
    let query = AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    };
    let mut found = app.state.audit_log.search_audit(&query).await.unwrap();
    found.reverse();
    found
}

/// A caller limited to partition `a` (an API key, a token's claim) is refused the default
/// partition, partition `b` and the archive-wide routes with 403 naming why, and served in
/// `a`; the audit records name the partition and its own patient.
#[tokio::test]
async fn callers_limited_to_a_partition_see_it_alone() {
    let key = TestKey::ec("ec-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let app = app_with_issuer(Backend::SQLITE_LOCAL, &issuer).await;
    let admin = api_key(&app, "admin", "read,write,delete,admin").await;
    for name in ["a", "b"] {
        assert_eq!(create(&app, name, Some(&admin)).await.0, 201);
    }
    let stored = app
        .client
        .post(app.url("/dicom-web/studies"))
        .bearer_auth(&admin)
        .header("content-type", "application/dicom")
        .body(default_copy())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    for (partition, body) in [("a", a_copy()), ("b", a_second())] {
        let stored = app
            .client
            .post(app.url(&format!("/dicom-web/partitions/{partition}/studies")))
            .bearer_auth(&admin)
            .header("content-type", "application/dicom")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(stored.status(), 200);
    }
    let (secret, _) = tessera::keys::create_limited(
        &app.settings,
        "research",
        &[
            "read".into(),
            "write".into(),
            "delete".into(),
            "admin".into(),
        ],
        Some(&["a".to_string()]),
    )
    .await
    .unwrap();
    let mut claims = claims(&issuer.url, &["read", "write", "delete", "admin"]);
    claims["tessera_partitions"] = json!(["a"]);
    let token = key.sign(&claims);
    // An empty claim: no partition at all.
    claims["tessera_partitions"] = json!([]);
    let nothing = key.sign(&claims);

    for credential in [&secret, &token] {
        let study_a = format!("/dicom-web/partitions/a/studies/{STUDY}/metadata");
        let (status, body) = call(&app, reqwest::Method::GET, &study_a, credential).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("A-PAT"));
        for refused in [
            format!("/dicom-web/studies/{STUDY}/metadata"),
            "/dicom-web/studies".to_string(),
            "/dicom-web/changefeed".to_string(),
            format!("/dicom-web/partitions/default/studies/{STUDY}"),
            format!("/dicom-web/partitions/b/studies/{STUDY}/metadata"),
            "/dicom-web/partitions/b/changefeed".to_string(),
            // Not even whether it exists.
            "/dicom-web/partitions/nope/studies".to_string(),
            format!("/fhir/ImagingStudy/{STUDY}"),
        ] {
            let (status, body) = call(&app, reqwest::Method::GET, &refused, credential).await;
            assert_eq!(status, 403, "{refused}: {body}");
            assert!(body.contains("may not use partition"), "{refused}: {body}");
        }
        let (status, body) = call(
            &app,
            reqwest::Method::DELETE,
            &format!("/dicom-web/studies/{STUDY}"),
            credential,
        )
        .await;
        assert_eq!(status, 403, "{body}");
        for archive_wide in [
            "/fhir/AuditEvent",
            "/metrics",
            "/jobs/0123456789abcdef0123456789abcdef",
        ] {
            let (status, body) = call(&app, reqwest::Method::GET, archive_wide, credential).await;
            assert_eq!(status, 403, "{archive_wide}: {body}");
        }
        let (status, body) = create(&app, "c", Some(credential)).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("about the whole archive"),
            "{body}"
        );
        // The list shows its partitions only.
        let (status, body) = call(
            &app,
            reqwest::Method::GET,
            "/dicom-web/partitions",
            credential,
        )
        .await;
        assert_eq!(status, 200);
        let list: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["name"], "a");
    }
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        "/dicom-web/partitions/a/studies",
        &nothing,
    )
    .await;
    assert_eq!(status, 403, "an empty claim allows no partition");
    // The unrestricted key still reads everything.
    for path in [
        "/dicom-web/studies".to_string(),
        format!("/dicom-web/studies/{STUDY}/metadata"),
        "/dicom-web/partitions/b/studies".to_string(),
        "/fhir/AuditEvent".to_string(),
    ] {
        assert_eq!(
            call(&app, reqwest::Method::GET, &path, &admin).await.0,
            200,
            "{path}"
        );
    }
    // A delete in a by the limited key: recorded with a's patient, not the default's.
    let (status, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/dicom-web/partitions/a/studies/{STUDY}"),
        &secret,
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let records = audit_records(&app).await;
    let in_a: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.path.starts_with("/dicom-web/partitions/a/"))
        .collect();
    assert!(!in_a.is_empty());
    for record in &in_a {
        assert_eq!(record.partition.as_deref(), Some("a"), "{record:?}");
        if record.study_uid.as_deref() == Some(STUDY) && record.status < 300 {
            assert_eq!(record.patient_id.as_deref(), Some("A-PAT"), "{record:?}");
        }
    }
    let delete = in_a
        .iter()
        .find(|r| r.method == "DELETE")
        .expect("the delete's record");
    assert_eq!(
        (delete.status, delete.patient_id.as_deref()),
        (204, Some("A-PAT"))
    );
    let refusal = records
        .iter()
        .find(|r| {
            r.path == "/dicom-web/partitions/b/changefeed"
                && r.agent.api_key.as_deref() == Some("research")
        })
        .expect("the refusal's record");
    assert_eq!(refusal.status, 403);
    assert_eq!(refusal.partition.as_deref(), Some("b"));
    assert!(
        refusal
            .detail
            .as_deref()
            .unwrap()
            .contains("may not use partition \"b\""),
        "{refusal:?}"
    );
    // The default partition's read of the same study UID: its own patient, no partition.
    let plain = records
        .iter()
        .find(|r| r.path == format!("/dicom-web/studies/{STUDY}/metadata") && r.status == 200)
        .expect("the default partition's read");
    assert_eq!(plain.partition, None);
    assert_eq!(plain.patient_id.as_deref(), Some("DEFAULT-PAT"));
    // Creating a partition is recorded as a change of the archive's configuration.
    let created = records
        .iter()
        .find(|r| r.method == "POST" && r.path == "/dicom-web/partitions" && r.status == 201)
        .expect("the creation's record");
    assert_eq!(created.event, tessera::audit::EventType::SecurityAlert);
    assert_eq!(created.agent.api_key.as_deref(), Some("admin"));
    // As FHIR AuditEvents: the partition is a detail of the study entity.
    let (status, _, body) = get_as(
        &app,
        &format!("/fhir/AuditEvent?entity={STUDY}&_count=1000"),
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let bundle: Value = serde_json::from_str(&body).unwrap();
    let partitions: Vec<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["resource"]["entity"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|e| e["detail"].as_array().cloned().unwrap_or_default())
        .filter(|d| d["type"] == "Partition")
        .map(|d| d["valueString"].as_str().unwrap().to_string())
        .collect();
    assert!(partitions.iter().any(|p| p == "a"), "{partitions:?}");
    assert!(
        partitions.iter().all(|p| p == "a" || p == "b"),
        "{partitions:?}"
    );
    app.stop().await;
}

/// With a FHIR server set, each partition pushes its studies with its own Endpoint (its
/// DICOMweb root): the same study UID in the default partition and in `a` is two
/// ImagingStudy resources there, and a delete in `a` removes only `a`'s.
#[tokio::test]
async fn each_partition_pushes_its_own_imaging_study() {
    use crate::fhir_push::{eventually, remote_studies, root as unique_root, Corpus};
    use crate::fhir_server::{self, fhir_url};
    let _server = fhir_server::lock_shared().await;
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| s.fhir_url = Some(fhir_url())).await;
    assert_eq!(create(&app, "a", None).await.0, 201);
    let c = Corpus {
        root: unique_root(),
    };
    let study = c.study(1);
    let stored = StowResult::from(app.stow(&[c.instance(1, 1, 1, "CT", "default")]).await).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let stored = StowResult::from(
        app.stow_to(
            "/dicom-web/partitions/a/studies",
            &[c.instance(1, 1, 1, "MR", "partition a")],
        )
        .await,
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);

    let client = reqwest::Client::new();
    let address = async |resource: &Value| -> String {
        let reference = resource["endpoint"][0]["reference"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, _, endpoint) =
            fhir_server::request(client.get(format!("{}/{reference}", fhir_url()))).await;
        assert_eq!(status, 200);
        endpoint["address"].as_str().unwrap().to_string()
    };
    let modality = |resource: &Value| {
        resource["modality"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    eventually(
        Duration::from_secs(30),
        "both partitions' studies arrive",
        async || {
            let found = remote_studies(&study).await;
            let mut modalities: Vec<String> = found.iter().map(modality).collect();
            modalities.sort();
            if modalities == ["CT", "MR"] {
                Ok(())
            } else {
                Err(format!("{modalities:?}"))
            }
        },
    )
    .await;
    for resource in remote_studies(&study).await {
        let (expected, partition) = match modality(&resource).as_str() {
            "CT" => (format!("{}/dicom-web", app.base), "default"),
            _ => (format!("{}/dicom-web/partitions/a", app.base), "a"),
        };
        assert_eq!(address(&resource).await, expected);
        // The partition is an identifier of the resource, beside the study's UID.
        let identifiers = resource["identifier"].as_array().unwrap();
        let named: Vec<&Value> = identifiers
            .iter()
            .filter(|i| i["system"] == "urn:tessera:partition")
            .collect();
        assert_eq!(
            named,
            [&json!({"system": "urn:tessera:partition", "value": partition})]
        );
        assert!(
            identifiers
                .contains(&json!({"system": "urn:dicom:uid", "value": format!("urn:oid:{study}")})),
            "{resource}"
        );
    }

    let deleted = app
        .client
        .delete(app.url(&format!("/dicom-web/partitions/a/studies/{study}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    eventually(
        Duration::from_secs(30),
        "a's study is deleted there, the default's stays",
        async || {
            let found: Vec<String> = remote_studies(&study).await.iter().map(modality).collect();
            if found == ["CT"] {
                Ok(())
            } else {
                Err(format!("{found:?}"))
            }
        },
    )
    .await;
    app.stop().await;
}

/// `tessera reindex`, `check`, `export` and `api-key create` with `--partition`, as an
/// operator runs them: partition a's index lost and rebuilt from its blob prefix alone.
async fn operators_commands_take_a_partition(backend: Backend) {
    use crate::operations::tessera;
    let app = TestApp::spawn(backend).await;
    assert_eq!(create(&app, "a", None).await.0, 201);
    store_both(&app).await;
    let (settings, dir) = (app.settings.clone(), app.dir.clone());
    app.stop().await;

    // Lose partition a's index (its file, or its schema), and only it.
    if settings.database_url().starts_with("postgres") {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&settings.database_url())
            .await
            .unwrap();
        conn.execute(r#"DROP SCHEMA "p_a" CASCADE"#).await.unwrap();
    } else {
        for name in ["index.db", "index.db-wal", "index.db-shm"] {
            let path = settings.data_dir.join("partitions/a").join(name);
            if path.exists() {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    let ran = tessera(&["reindex", "--partition", "a"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("2 blobs: 2 instances indexed"),
        "{}",
        ran.stdout
    );
    for args in [
        vec!["check", "--verify", "--partition", "a"],
        vec!["check", "--verify"],
    ] {
        let ran = tessera(&args, &settings, &[]).await;
        assert_eq!(ran.code, 0, "{args:?}: {}\n{}", ran.stdout, ran.stderr);
        assert!(
            ran.stdout.contains("no problems found"),
            "{args:?}: {}",
            ran.stdout
        );
    }
    let ran = tessera(&["check", "--partition", "nope"], &settings, &[]).await;
    assert_ne!(ran.code, 0);
    assert!(
        ran.stderr.contains("no partition is named"),
        "{}",
        ran.stderr
    );
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("export");
    let ran = tessera(
        &[
            "export",
            "--partition",
            "a",
            "--study",
            STUDY,
            "--to",
            to.to_str().unwrap(),
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let exported = std::fs::read(to.join(STUDY).join(SERIES).join(format!("{SOP}.dcm"))).unwrap();
    assert_eq!(exported, a_copy().to_vec(), "partition a's copy exported");
    let ran = tessera(
        &[
            "api-key",
            "create",
            "--name",
            "research",
            "--roles",
            "read",
            "--partitions",
            "a",
        ],
        &settings,
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("in partitions a"), "{}", ran.stdout);
    let ran = tessera(&["api-key", "list"], &settings, &[]).await;
    assert!(ran.stdout.contains("research\tread\ta\t"), "{}", ran.stdout);
    let ran = tessera(&["migrate"], &settings, &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);

    // The rebuilt partition serves what it held; the default is untouched.
    let app = TestApp::start(settings, dir).await;
    let (_, studies) = get_json(&app, "/dicom-web/partitions/a/studies").await;
    assert_eq!(number(&studies[0], "00201208"), 2, "{studies}");
    let (_, studies) = get_json(&app, "/dicom-web/studies").await;
    assert_eq!(text(&studies[0], "00100020"), "DEFAULT-PAT");
    // The commands' audit records name the partition.
    let records = audit_records(&app).await;
    let reindexed = records
        .iter()
        .find(|r| r.method == "reindex")
        .expect("the reindex record");
    assert_eq!(reindexed.partition.as_deref(), Some("a"));
    app.stop().await;
}

/// Partition names that try to leave their place (dot segments, slashes, encodings, NUL, a
/// 5,000-character name) in the path, with auto-creation on: 400 or 404, never another
/// partition's data, and no folder or database made for them.
#[tokio::test]
async fn hostile_partition_names_are_refused() {
    use crate::hostile_paths::{raw_get, HOSTILE};
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| s.partition_auto_create = true).await;
    assert_eq!(create(&app, "a", None).await.0, 201);
    store_both(&app).await;
    let mut hostile: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    hostile.extend([
        "A".into(),
        "a.b".into(),
        "default%2f..".into(),
        "x".repeat(5000),
    ]);
    for bad in &hostile {
        for path in [
            format!("/dicom-web/partitions/{bad}/studies"),
            format!("/dicom-web/partitions/{bad}/studies/{STUDY}/metadata"),
            format!("/dicom-web/partitions/{bad}/changefeed"),
        ] {
            let (status, answer) = raw_get(&app, &path).await;
            assert!(matches!(status, 400 | 404), "{path}: {status}\n{answer}");
            assert!(
                !answer.contains("-PAT"),
                "{path} served a patient: {answer}"
            );
        }
        // Over raw TCP too: HTTP clients resolve dot segments before sending.
        let (status, answer) = raw_post(
            &app,
            &format!("/dicom-web/partitions/{bad}/studies"),
            &a_copy(),
        )
        .await;
        assert!(
            matches!(status, 400 | 404),
            "STOW to {bad:?}: {status}\n{answer}"
        );
    }
    let folders = |path: std::path::PathBuf| -> Vec<String> {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(folders(app.dir.path().join("partitions")), ["a"]);
    assert_eq!(folders(app.dir.path().join("blobs/partitions")), ["a"]);
    let (_, list) = get_json(&app, "/dicom-web/partitions").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    app.stop().await;
}

/// POST `body` as one `application/dicom` instance over raw TCP: (status, answer).
async fn raw_post(app: &TestApp, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/dicom\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}
