//! De-identification as an archive operation (issue 19): `tessera deidentify` of the real
//! binary to a folder and to an S3 prefix, and `POST /jobs/deidentify`. Checked: the
//! instances written carry pseudonyms and new UIDs and their pixel data byte for byte; a
//! secondary capture is refused (and listed) while the rest goes on; the mapping table (CSV
//! and index) says what was replaced and only admins read it; the same project gives the same
//! UIDs run after run, another project others; the audit trail names the project and studies.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use tessera::storage::{BlobKey, BlobStore};
use tessera_dicom::layout::PixelDataLayout;

use crate::auth_support::{api_key, require_auth};
use crate::export::files_under;
use crate::helpers::*;
use crate::operations::{command_records, index_connection, tessera};
use crate::wado_support::get_parts;

/// A CT, an MR and a secondary capture (refused unless burned-in text is allowed).
const FILES: [&str; 3] = ["CT_small.dcm", "MR_small.dcm", "SC_rgb_rle_2frame.dcm"];
const CT: usize = 0;
const SC: usize = 2;

struct Stored {
    study: String,
    series: String,
    sop: String,
    bytes: Bytes,
}

/// The instance rows of what the STOW answer names.
async fn rows_of(app: &TestApp, stored: StowResult, bytes: Bytes) -> Stored {
    assert_eq!(stored.status, 200, "{}", stored.body);
    let sop = stored.referenced()[0]["00081155"]["Value"][0]
        .as_str()
        .unwrap()
        .to_string();
    let uid = tessera_dicom::uid::SopInstanceUid::parse(&sop).unwrap();
    let row = app.state.index.instance(&uid).await.unwrap().unwrap();
    Stored {
        study: row.study_uid,
        series: row.series_uid,
        sop,
        bytes,
    }
}

/// A secret file for `--deid-project`: `NAME=PATH`.
fn project(dir: &std::path::Path, name: &str, secret: &str) -> String {
    let path = dir.join(format!("{name}.key"));
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    format!("{name}={}", path.display())
}

/// The pixel data of a Part 10 file: the native value, or every fragment's bytes.
fn pixel_data(bytes: &[u8]) -> Vec<u8> {
    let layout = tessera_dicom::layout::walk(bytes).unwrap();
    match layout.pixel_data.expect("pixel data") {
        PixelDataLayout::Native {
            value_offset,
            length,
        } => bytes[value_offset as usize..(value_offset + length) as usize].to_vec(),
        PixelDataLayout::Encapsulated { fragments, .. } => fragments
            .iter()
            .flat_map(|f| {
                bytes[f.value_offset as usize..(f.value_offset + f.length) as usize].to_vec()
            })
            .collect(),
    }
}

/// A text attribute of a Part 10 file, trimmed.
fn text(bytes: &[u8], tag: dicom_core::Tag) -> String {
    let parsed = tessera_dicom::parsed::parse(bytes).unwrap();
    parsed
        .object
        .element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_string()
}

/// The rows of a mapping CSV file (after its header), as (kind, original, replacement).
fn csv_rows(path: &std::path::Path) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("kind,original,replacement"));
    lines
        .map(|line| {
            let parts: Vec<&str> = line.split(',').collect();
            assert_eq!(parts.len(), 3, "{line}");
            (parts[0].into(), parts[1].into(), parts[2].into())
        })
        .collect()
}

/// The rows of a mapping as `GET /jobs/{run}/mapping` answers them, every page.
async fn mapping_rows(
    app: &TestApp,
    run: &str,
    key: Option<&str>,
) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut offset = 0;
    loop {
        let path = format!("/jobs/{run}/mapping?limit=2&offset={offset}");
        let (status, body) = get_json(app, &path, key).await;
        assert_eq!(status, 200, "{body}");
        let rows = body["rows"].as_array().unwrap();
        if rows.is_empty() {
            return out;
        }
        for row in rows {
            out.insert((
                row["kind"].as_str().unwrap().into(),
                row["original"].as_str().unwrap().into(),
                row["replacement"].as_str().unwrap().into(),
            ));
        }
        offset += rows.len();
    }
}

fn replacement(rows: &BTreeSet<(String, String, String)>, kind: &str, original: &str) -> String {
    rows.iter()
        .find(|(k, o, _)| k == kind && o == original)
        .unwrap_or_else(|| panic!("no {kind} row for {original}: {rows:?}"))
        .2
        .clone()
}

async fn get_json(app: &TestApp, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body)
}

/// The run id the command's summary names.
fn run_of(stdout: &str) -> String {
    let (_, rest) = stdout
        .split_once("under run ")
        .unwrap_or_else(|| panic!("no run id in {stdout}"));
    rest[..32].to_string()
}

#[tokio::test]
async fn the_command_deidentifies_to_a_folder_and_s3_with_the_same_uids_per_project() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let mut stored = Vec::new();
    for name in FILES {
        let bytes = read_testdata(name);
        let result = app.stow_one(&bytes).await;
        stored.push(rows_of(&app, result, bytes).await);
    }
    let settings = app.settings.clone();
    let out = tempfile::tempdir().unwrap();
    let a = project(out.path(), "trial-a", "a secret of project a, 32 bytes");
    let b = project(out.path(), "trial-b", "another secret, of project b....");
    let weak = project(out.path(), "weak", "8 bytes!");
    let projects = ["--deid-project", &a, "--deid-project", &b];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(projects.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let settings = settings.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tessera(&args, &settings, &[]).await
        }
    };

    // The CT and the secondary capture to a folder: the capture is refused, the CT written.
    let folder = out.path().join("a");
    let report = out.path().join("a.jsonl");
    let mapping = out.path().join("a.csv");
    let ran = run(with(&[
        "deidentify",
        "--study",
        &stored[CT].study,
        "--study",
        &stored[SC].study,
        "--project",
        "trial-a",
        "--to",
        folder.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("de-identified 1 instances") && ran.stdout.contains("1 refused"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("refused: instance {}", stored[SC].sop)),
        "{}",
        ran.stdout
    );
    let files = files_under(&folder);
    assert_eq!(files.len(), 1, "{:?}", files.keys());
    let (name, written) = files.iter().next().unwrap();
    let parts: Vec<&str> = name.trim_end_matches(".dcm").split('/').collect();
    let csv = csv_rows(&mapping);
    assert_eq!(parts[0], replacement(&csv, "uid", &stored[CT].study));
    assert_eq!(parts[1], replacement(&csv, "uid", &stored[CT].series));
    assert_eq!(parts[2], replacement(&csv, "uid", &stored[CT].sop));
    assert!(parts.iter().all(|p| p.starts_with("2.25.")), "{name}");
    use dicom_dictionary_std::tags;
    assert_eq!(text(written, tags::SOP_INSTANCE_UID), parts[2]);
    let pseudonym = replacement(&csv, "patient_id", "1CT1");
    assert!(pseudonym.starts_with("ANON-"), "{pseudonym}");
    assert_eq!(text(written, tags::PATIENT_ID), pseudonym);
    assert!(text(written, tags::PATIENT_NAME).starts_with("ANON^"));
    assert!(
        !written
            .windows(b"CompressedSamples".len())
            .any(|w| w == b"CompressedSamples"),
        "the patient's name is still in the file"
    );
    assert!(
        pixel_data(written) == pixel_data(&stored[CT].bytes),
        "pixel data changed"
    );
    // The report: one line per instance, the refusal with its reason.
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let statuses: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from(["deidentified", "refused"]));
    let refused = lines.iter().find(|l| l["status"] == "refused").unwrap();
    assert_eq!(refused["sop_instance_uid"], stored[SC].sop);
    assert!(
        refused["message"].as_str().unwrap().contains("burned-in")
            || refused["message"]
                .as_str()
                .unwrap()
                .contains("identifying text"),
        "{refused}"
    );
    // The index holds the same rows under the run's id (this app has no authentication).
    let run_a = run_of(&ran.stdout);
    assert_eq!(mapping_rows(&app, &run_a, None).await, csv);

    // The same project, another run, to S3: the same names and the same bytes.
    let s3 = fresh_s3_url();
    let ran = run(with(&[
        "deidentify",
        "--series",
        &stored[CT].series,
        "--project",
        "trial-a",
        "--to",
        &s3,
    ]))
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let bucket = BlobStore::from_url(&s3, false).unwrap();
    let got = bucket
        .get(&BlobKey::from_stored(name.clone()))
        .await
        .unwrap();
    assert!(
        got == written.as_slice(),
        "the S3 copy differs from the folder's"
    );

    // Another project: other UIDs, another pseudonym.
    let other = out.path().join("b");
    let ran = run(with(&[
        "deidentify",
        "--study",
        &stored[CT].study,
        "--project",
        "trial-b",
        "--to",
        other.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let files_b = files_under(&other);
    let (name_b, written_b) = files_b.iter().next().unwrap();
    assert_ne!(name_b.split('/').next(), Some(parts[0]));
    assert_ne!(text(written_b, tags::PATIENT_ID), pseudonym);
    let rows_b = mapping_rows(&app, &run_of(&ran.stdout), None).await;
    assert_ne!(
        replacement(&rows_b, "uid", &stored[CT].study),
        replacement(&csv, "uid", &stored[CT].study)
    );

    // Burned-in text allowed: the secondary capture passes, its pixels unchanged.
    let allowed = out.path().join("sc");
    let ran = run(with(&[
        "deidentify",
        "--study",
        &stored[SC].study,
        "--project",
        "trial-a",
        "--allow-burned-in",
        "--option",
        "retain-longitudinal-modified-dates,clean-descriptors",
        "--to",
        allowed.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let sc = files_under(&allowed);
    assert_eq!(sc.len(), 1);
    let sc_bytes = sc.values().next().unwrap();
    assert!(pixel_data(sc_bytes) == pixel_data(&stored[SC].bytes));

    // With a mask for its size instead (it names no manufacturer): RLE pixels decoded to
    // Explicit VR Little Endian, the top 10 rows black in both frames, the rest the
    // original's decoded pixels (as the server transcodes them), Burned In Annotation NO.
    let masks = out.path().join("masks.json");
    std::fs::write(
        &masks,
        json!([{"manufacturer": "", "rows": 100, "columns": 100,
                "rectangles": [{"x": 0, "y": 0, "width": 100, "height": 10}]}])
        .to_string(),
    )
    .unwrap();
    let masked = out.path().join("masked");
    let ran = run(with(&[
        "deidentify",
        "--study",
        &stored[SC].study,
        "--project",
        "trial-a",
        "--masks",
        masks.to_str().unwrap(),
        "--to",
        masked.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let sc = files_under(&masked);
    assert_eq!(sc.len(), 1);
    let sc_bytes = sc.values().next().unwrap();
    assert_eq!(
        tessera_dicom::layout::walk(sc_bytes)
            .unwrap()
            .transfer_syntax,
        "1.2.840.10008.1.2.1"
    );
    assert_eq!(text(sc_bytes, tags::BURNED_IN_ANNOTATION), "NO");
    let decoded = get_parts(
        &app,
        &format!(
            "/dicom-web/studies/{}/series/{}/instances/{}",
            stored[SC].study, stored[SC].series, stored[SC].sop
        ),
        &[(
            "accept",
            "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.1",
        )],
        "application/dicom",
        "the capture decoded",
    )
    .await;
    assert_eq!(decoded.len(), 1);
    let original = pixel_data(&decoded[0].body);
    let got = pixel_data(sc_bytes);
    let frame = 100 * 100 * 3;
    assert_eq!((original.len(), got.len()), (2 * frame, 2 * frame));
    for f in 0..2 {
        let (o, g) = (&original[f * frame..][..frame], &got[f * frame..][..frame]);
        assert!(
            g[..10 * 300].iter().all(|&b| b == 0),
            "frame {f} not masked"
        );
        assert!(
            o[..10 * 300].iter().any(|&b| b != 0),
            "frame {f}: nothing to mask"
        );
        assert!(
            g[10 * 300..] == o[10 * 300..],
            "frame {f} changed outside the mask"
        );
    }

    // Into a partition of this archive, through its ingest path: served under its root, not
    // under the plain routes (which hold the originals).
    let created = app
        .client
        .post(app.url("/dicom-web/partitions"))
        .header("content-type", "application/json")
        .body(json!({"name": "research"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let ran = run(with(&[
        "deidentify",
        "--study",
        &stored[CT].study,
        "--project",
        "trial-a",
        "--to-partition",
        "research",
    ]))
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("to partition research"),
        "{}",
        ran.stdout
    );
    let (status, studies) = get_json(&app, "/dicom-web/partitions/research/studies", None).await;
    assert_eq!(status, 200, "{studies}");
    assert_eq!(studies.as_array().unwrap().len(), 1, "{studies}");
    assert_eq!(studies[0]["0020000D"]["Value"][0], parts[0]);
    assert_eq!(studies[0]["00100020"]["Value"][0], pseudonym.as_str());
    let (_, plain) = get_json(
        &app,
        &format!("/dicom-web/studies?StudyInstanceUID={}", parts[0]),
        None,
    )
    .await;
    assert_eq!(plain, json!([]));

    // From a partition (research's copy, de-identified again under project b) to a folder:
    // the originals read from research's index and blob prefix, the mapping kept with the
    // default partition's jobs.
    let again = out.path().join("from-research");
    let ran = run(with(&[
        "deidentify",
        "--study",
        parts[0],
        "--partition",
        "research",
        "--project",
        "trial-b",
        "--to",
        again.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let run_id = run_of(&ran.stdout);
    let files = files_under(&again);
    assert_eq!(files.len(), 1, "{:?}", files.keys());
    let (name, from_research) = files.iter().next().unwrap();
    assert!(!name.starts_with(parts[0]), "{name}");
    assert!(pixel_data(from_research) == pixel_data(&stored[CT].bytes));
    let rows = mapping_rows(&app, &run_id, None).await;
    assert_eq!(
        name.split('/').next().unwrap(),
        replacement(&rows, "uid", parts[0]),
        "{rows:?}"
    );

    // What cannot run: exit status 2, with why.
    for (args, words) in [
        (
            with(&[
                "deidentify",
                "--study",
                &stored[CT].study,
                "--project",
                "trial-a",
                "--to-partition",
                "nowhere",
            ]),
            "no partition is named",
        ),
        (
            with(&[
                "deidentify",
                "--study",
                &stored[CT].study,
                "--project",
                "trial-a",
                "--to-partition",
                "default",
            ]),
            "holds the clinical originals",
        ),
        (
            with(&[
                "deidentify",
                "--study",
                &stored[CT].study,
                "--project",
                "trial-a",
                "--partition",
                "research",
                "--to-partition",
                "research",
            ]),
            "where the originals are read from",
        ),
        (
            with(&[
                "deidentify",
                "--study",
                &stored[CT].study,
                "--project",
                "trial-a",
                "--option",
                "retain-all",
                "--to",
                "x",
            ]),
            "unknown de-identification option",
        ),
        (
            with(&[
                "deidentify",
                "--study",
                &stored[CT].study,
                "--project",
                "nobody",
                "--to",
                "x",
            ]),
            "is not configured",
        ),
        (
            vec![
                "deidentify".into(),
                "--study".into(),
                stored[CT].study.clone(),
                "--project".into(),
                "weak".into(),
                "--to".into(),
                "x".into(),
                "--deid-project".into(),
                weak.clone(),
            ],
            "holds 8 bytes",
        ),
    ] {
        let ran = run(args).await;
        assert_eq!(ran.code, 2, "{words}: {}\n{}", ran.stdout, ran.stderr);
        assert!(ran.stderr.contains(words), "{words}: {}", ran.stderr);
    }

    // The audit trail: an Export (110106, read) per run, naming the project and the studies.
    let records = command_records(&settings, "deidentify").await;
    assert_eq!(records.len(), 7, "{records:?}");
    assert!(records.iter().all(|r| r.0 == "110106" && r.1 == "R"));
    assert!(records[0].2.contains("project trial-a"), "{records:?}");
    assert!(records[0].2.contains(&stored[CT].study), "{records:?}");
    assert!(records[0].2.contains("1 refused"), "{records:?}");
    assert!(records[0].2.contains(&run_a), "{records:?}");
    app.stop().await;
}

backend_tests! {
    // The mapping's and the job's SQL on both databases.
    [sqlite_local, postgres_local] => [a_job_refuses_a_secondary_capture_and_only_admins_read_its_mapping];
}

async fn post_job(app: &TestApp, key: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(app.url("/jobs/deidentify"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, location, body)
}

async fn wait_for_end(app: &TestApp, location: &str, key: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = get_json(app, location, Some(key)).await;
        assert_eq!(status, 200, "{job}");
        if ["completed", "failed", "cancelled"].contains(&job["state"].as_str().unwrap()) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job not over within a minute: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_job_refuses_a_secondary_capture_and_only_admins_read_its_mapping(backend: Backend) {
    let keys = tempfile::tempdir().unwrap();
    let trial = project(keys.path(), "trial", "the job test's project secret..");
    let other = project(keys.path(), "other", "and the other project's secret.");
    let app = TestApp::spawn_with(backend, |s| {
        require_auth(s, None);
        s.deid_projects = vec![trial, other];
    })
    .await;
    let admin = api_key(&app, "admin", "admin").await;
    let writer = api_key(&app, "writer", "write").await;
    let reader = api_key(&app, "reader", "read").await;
    let mut stored = Vec::new();
    for name in FILES {
        let bytes = read_testdata(name);
        let response = app
            .client
            .post(app.url("/dicom-web/studies"))
            .bearer_auth(&writer)
            .header("content-type", "application/dicom")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        stored.push(rows_of(&app, StowResult::from(response).await, bytes).await);
    }
    let out = tempfile::tempdir().unwrap();
    let to = format!("file://{}", out.path().display());

    let (status, location, job) = post_job(
        &app,
        &admin,
        json!({
            "source": {"studies": [stored[CT].study, stored[SC].study]},
            "target": {"to": to},
            "project": "trial",
            "options": ["retain-longitudinal-modified-dates"],
        }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let location = location.expect("a Location header");
    assert_eq!(job["kind"], "deidentify");
    assert_eq!(job["total"], 2);
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["mapping"], format!("/jobs/{id}/mapping"));
    let done = wait_for_end(&app, &location, &admin).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(
        (
            done["done"].as_u64(),
            done["refused"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{done}"
    );
    assert!(
        done["message"].as_str().unwrap().contains("1 refused"),
        "{done}"
    );
    let (status, errors) = get_json(&app, &format!("{location}/errors"), Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["SOPInstanceUID"], stored[SC].sop);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("refused: "),
        "{errors}"
    );

    // The mapping: for admins only.
    let rows = mapping_rows(&app, &id, Some(&admin)).await;
    let study = replacement(&rows, "uid", &stored[CT].study);
    assert!(replacement(&rows, "patient_id", "1CT1").starts_with("ANON-"));
    let shift: i64 = replacement(&rows, "date_shift_days", "1CT1")
        .parse()
        .unwrap();
    assert!((366..=3652).contains(&shift.abs()), "{shift}");
    let (status, body) = get_json(&app, &format!("/jobs/{id}/mapping"), Some(&admin)).await;
    assert_eq!((status, body["project"].clone()), (200, json!("trial")));
    let (status, body) = get_json(&app, &format!("/jobs/{id}/mapping"), Some(&reader)).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = get_json(&app, &format!("/jobs/{id}/mapping"), None).await;
    assert_eq!(status, 401);
    let (status, _) = get_json(&app, &format!("/jobs/{:032x}/mapping", 9), Some(&admin)).await;
    assert_eq!(status, 404);

    // What the job wrote: the CT under its new UIDs, pixel data byte for byte.
    let files = files_under(out.path());
    assert_eq!(files.len(), 1, "{:?}", files.keys());
    let (name, written) = files.iter().next().unwrap();
    assert!(name.starts_with(&format!("{study}/")), "{name}");
    assert!(pixel_data(written) == pixel_data(&stored[CT].bytes));

    // The same series under the other project: other UIDs; under the same project again:
    // the same.
    for (project, same) in [("other", false), ("trial", true)] {
        let (status, location, job) = post_job(
            &app,
            &admin,
            json!({
                "source": {"series": [stored[CT].series]},
                "target": {"to": to},
                "project": project,
                "options": ["retain-longitudinal-modified-dates"],
            }),
        )
        .await;
        assert_eq!(status, 202, "{job}");
        let ended = wait_for_end(&app, &location.unwrap(), &admin).await;
        assert_eq!(ended["state"], "completed", "{ended}");
        let again = mapping_rows(&app, job["id"].as_str().unwrap(), Some(&admin)).await;
        // The refused capture left nothing in the first job's mapping: the CT's rows alone.
        assert_eq!(again == rows, same, "{project}");
    }

    // Into a partition: the job stores through the partition's ingest path.
    let created = app
        .client
        .post(app.url("/dicom-web/partitions"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(json!({"name": "research"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let (status, location, job) = post_job(
        &app,
        &admin,
        json!({
            "source": {"series": [stored[CT].series]},
            "target": {"partition": "research"},
            "project": "trial",
            "options": ["retain-longitudinal-modified-dates"],
        }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let ended = wait_for_end(&app, &location.unwrap(), &admin).await;
    assert_eq!(ended["state"], "completed", "{ended}");
    let (status, studies) = get_json(
        &app,
        "/dicom-web/partitions/research/studies",
        Some(&reader),
    )
    .await;
    assert_eq!(status, 200, "{studies}");
    assert_eq!(
        studies[0]["0020000D"]["Value"][0],
        study.as_str(),
        "{studies}"
    );

    // The capture with a mask for its size (it names no manufacturer): masked, not refused.
    let (status, location, job) = post_job(
        &app,
        &admin,
        json!({
            "source": {"studies": [stored[SC].study]},
            "target": {"to": format!("{to}/masked")},
            "project": "trial",
            "masks": [{"manufacturer": "", "rows": 100, "columns": 100,
                       "rectangles": [{"x": 90, "y": 90, "width": 10, "height": 10}]}],
        }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let ended = wait_for_end(&app, &location.unwrap(), &admin).await;
    assert_eq!(ended["state"], "completed", "{ended}");
    assert_eq!(ended["done"], 1, "{ended}");
    let masked = files_under(&out.path().join("masked"));
    assert_eq!(masked.len(), 1, "{:?}", masked.keys());
    let frame = pixel_data(masked.values().next().unwrap());
    // The last row's last 10 pixels of the first frame: black.
    assert!(frame[99 * 300 + 270..100 * 300].iter().all(|&b| b == 0));

    // From a partition into another: the originals read from its index and blob prefix
    // alone, the copies under the same new UIDs (same project, same originals).
    for name in ["clinical-b", "research-b"] {
        let created = app
            .client
            .post(app.url("/dicom-web/partitions"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(json!({ "name": name }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    }
    let into_b = app
        .client
        .post(app.url("/dicom-web/partitions/clinical-b/studies"))
        .bearer_auth(&writer)
        .header("content-type", "application/dicom")
        .body(stored[CT].bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(into_b.status(), 200, "{}", into_b.text().await.unwrap());
    let from_b = json!({
        "source": {"studies": [stored[CT].study], "partition": "clinical-b"},
        "target": {"partition": "research-b"},
        "project": "trial",
        "options": ["retain-longitudinal-modified-dates"],
    });
    // An admin limited to the default partition may not read clinical-b's originals.
    let (limited, _) = tessera::keys::create_limited(
        &app.settings,
        "default-admin",
        &["admin".into()],
        Some(&["default".to_string()]),
    )
    .await
    .unwrap();
    let (status, _, answer) = post_job(&app, &limited, from_b.clone()).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("\"clinical-b\""),
        "{answer}"
    );
    let (status, location, job) = post_job(&app, &admin, from_b).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["total"], 1, "{job}");
    let ended = wait_for_end(&app, &location.unwrap(), &admin).await;
    assert_eq!(ended["state"], "completed", "{ended}");
    let (status, studies) = get_json(
        &app,
        "/dicom-web/partitions/research-b/studies",
        Some(&reader),
    )
    .await;
    assert_eq!(status, 200, "{studies}");
    assert_eq!(studies.as_array().unwrap().len(), 1, "{studies}");
    assert_eq!(
        studies[0]["0020000D"]["Value"][0],
        study.as_str(),
        "{studies}"
    );
    // The original is not in research-b, nor the copy in clinical-b.
    let (status, _) = get_json(
        &app,
        &format!(
            "/dicom-web/partitions/research-b/studies/{}/metadata",
            stored[CT].study
        ),
        Some(&reader),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get_json(
        &app,
        &format!("/dicom-web/partitions/clinical-b/studies/{study}/metadata"),
        Some(&reader),
    )
    .await;
    assert_eq!(status, 404);

    // Refusals, with their reasons.
    let ct = stored[CT].study.clone();
    for (body, words) in [
        (
            json!({"source": {}, "target": {"to": to}, "project": "trial"}),
            "say what to de-identify",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"to": to}, "project": "nobody"}),
            "is not configured",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"to": to}, "project": "trial", "options": ["retain-all"]}),
            "unknown de-identification option",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"to": to, "partition": "p"}, "project": "trial"}),
            "give either",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"partition": "nowhere"}, "project": "trial"}),
            "no partition is named",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"to": "/tmp/folder"}, "project": "trial"}),
            "not a destination a job can write",
        ),
        (
            json!({"source": {"studies": ["1.2.3.4.5.6.7.8"]}, "target": {"to": to}, "project": "trial"}),
            "no such study",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"to": to}, "project": "trial", "secret": "x"}),
            "unknown field",
        ),
        (
            json!({"source": {"studies": [ct]}, "target": {"to": to}, "project": "trial",
                   "masks": [{"manufacturer": "X", "rows": 4, "columns": 4, "rectangles": []}]}),
            "pixel mask 1: it needs 1 to 100 rectangles",
        ),
        (
            json!({"source": {"studies": [ct], "partition": "clinical-b"}, "target": {"partition": "clinical-b"}, "project": "trial"}),
            "where the originals are read from",
        ),
        (
            json!({"source": {"studies": [ct], "partition": "elsewhere"}, "target": {"to": to}, "project": "trial"}),
            "no partition is named",
        ),
        (
            json!({"source": {"studies": ["1.2.3.4.5.6.7.8"], "partition": "clinical-b"}, "target": {"to": to}, "project": "trial"}),
            "no such study",
        ),
    ] {
        let (status, _, answer) = post_job(&app, &admin, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(words),
            "{body}: {answer}"
        );
    }
    let (status, _, _) = post_job(
        &app,
        &reader,
        json!({"source": {"studies": [ct]}, "target": {"to": to}, "project": "trial"}),
    )
    .await;
    assert_eq!(status, 403);

    // The audit trail: what left, by whom, de-identified with which project.
    let records = command_records(&app.settings, "deidentify job").await;
    assert_eq!(records.len(), 6, "{records:?}");
    assert!(records.iter().all(|r| r.0 == "110106" && r.1 == "R"));
    assert!(records[0].2.contains("project trial"), "{records:?}");
    assert!(records[0].2.contains(&stored[SC].study), "{records:?}");
    // The job that read clinical-b's originals names that partition; the others none.
    let mut conn = index_connection(&app.settings).await;
    let partitions: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT partition_name FROM audit_events WHERE method = 'deidentify job' ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let named: Vec<Option<&str>> = partitions.iter().map(|(p,)| p.as_deref()).collect();
    assert_eq!(
        named,
        [None, None, None, None, None, Some("clinical-b")],
        "{named:?}"
    );
    app.stop().await;
}
