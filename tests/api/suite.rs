//! The STOW suite, run on every (index, blob store) pair.

use dicom_dictionary_std::uids;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::Value;
use tessera::index::DuplicatePolicy;
use tessera::ingest::sweep::sweep_orphans;
use tessera::storage::BlobKey;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

use crate::helpers::*;

backend_tests! {
    every_index_on_every_store => [
        stores_every_testdata_file_bit_exact,
        stores_a_batch_in_one_request,
        bad_input_is_refused_and_nothing_is_stored,
        size_limits_answer_413,
        mixed_request_stores_the_good_part,
        duplicate_policies,
        concurrent_duplicates_one_wins,
        concurrent_requests_keep_counts_exact,
        media_type_variants_and_xml,
        orphan_blobs_are_swept,
        broken_real_files_never_500,
        spooled_parts_store_bit_exact,
        large_instance_streams_through_staging,
    ];
}

const CT: &str = "CT_small.dcm";
const CT_SOP: &str = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

/// CT_small with another SOP Instance UID of the same length (meta and data set alike).
pub fn ct_variant(n: u32) -> Bytes {
    let original = read_testdata(CT);
    let new_uid = format!("{}{:06}", &CT_SOP[..CT_SOP.len() - 6], n);
    Bytes::from(replace_all(
        &original,
        CT_SOP.as_bytes(),
        new_uid.as_bytes(),
    ))
}

/// CT_small whose StudyInstanceUID is 72 characters long (the element re-encoded).
pub fn ct_with_long_study_uid() -> Bytes {
    let original = read_testdata(CT);
    let at = original[132..]
        .windows(6)
        .position(|w| w == b"\x20\x00\x0d\x00UI")
        .unwrap()
        + 132;
    let old_len = u16::from_le_bytes([original[at + 6], original[at + 7]]) as usize;
    let long_uid = format!("1.{}", "2".repeat(70));
    let mut out = original[..at + 6].to_vec();
    out.extend_from_slice(&(long_uid.len() as u16).to_le_bytes());
    out.extend_from_slice(long_uid.as_bytes());
    out.extend_from_slice(&original[at + 8 + old_len..]);
    Bytes::from(out)
}

pub fn ct_variant_uid(n: u32) -> String {
    format!("{}{:06}", &CT_SOP[..CT_SOP.len() - 6], n)
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = haystack.to_vec();
    let mut i = 0;
    let mut replaced = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            replaced += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(replaced >= 1);
    out
}

fn opt(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub async fn stores_every_testdata_file_bit_exact(backend: Backend) {
    every_testdata_file_bit_exact(backend, None).await
}

/// Every part through a staging file (`ingest::spool`), as the largest instances go: the
/// same bytes, rows and frames as from memory, and no staging file left behind.
pub async fn spooled_parts_store_bit_exact(backend: Backend) {
    every_testdata_file_bit_exact(backend, Some(0)).await;
    bad_input_refused(backend, Some(0)).await;
    broken_files_refused(backend, Some(0)).await;
}

/// A 40-frame 512x512 16-bit instance (20 MiB) with the default spool limit: it goes through
/// a staging file (renamed into place, or uploaded to S3 in several 8 MiB parts), comes back
/// byte for byte, frame by frame, and leaves no staging file.
pub async fn large_instance_streams_through_staging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.settings.spool_size.bytes(),
        8 << 20,
        "the default spool limit"
    );
    let big = crate::synthetic::MultiFrame::new(1, 512, 40);
    assert!(big.file.len() > 20 << 20);
    let result = StowResult::from(app.stow(&[big.file.clone(), ct_variant(1)]).await).await;
    assert_eq!(result.status, 200, "{}", result.body);
    assert_eq!(result.referenced().len(), 2);
    assert_eq!(app.counts().await, (2, 2, 2));
    assert_eq!(app.staging_files(), 0, "staging files left behind");
    let stored = app.stored_bytes(&big.sop_uid).await;
    assert_eq!(stored.len(), big.file.len());
    assert!(
        stored == big.file,
        "the stored blob differs from the sent file"
    );
    let study = &big.study_uid;
    for frame in [1, 17, 40] {
        let path = format!(
            "/dicom-web/studies/{study}/series/{}/instances/{}/frames/{frame}",
            big.series_uid, big.sop_uid
        );
        let parts = crate::wado_support::get_parts(
            &app,
            &path,
            &[(
                "accept",
                "multipart/related; type=\"application/octet-stream\"",
            )],
            "application/octet-stream",
            "frame of a spooled instance",
        )
        .await;
        assert_eq!(parts.len(), 1);
        assert!(parts[0].body == big.frame(frame), "frame {frame} differs");
    }
}

/// Set the STOW spool limit when a test gives one (0: every part through a staging file).
fn with_spool_limit(settings: &mut tessera::config::Settings, spool: Option<u64>) {
    if let Some(limit) = spool {
        settings.spool_size = tessera::config::ByteSize(limit);
    }
}

async fn every_testdata_file_bit_exact(backend: Backend, spool: Option<u64>) {
    let app = TestApp::spawn_with(backend, |s| {
        s.duplicate_policy = DuplicatePolicy::Overwrite;
        with_spool_limit(s, spool);
    })
    .await;
    let expected = expected();
    let mut checked_frames = 0;
    for (name, exp) in expected.as_object().unwrap() {
        let bytes = read_testdata(name);
        let result = app.stow_one(&bytes).await;
        let study_uid = exp["study_instance_uid"].as_str().unwrap();
        assert_eq!(
            result.status, 200,
            "{name}: {:?} {}",
            result.warning, result.body
        );
        assert!(
            !result.has_failed_sequence(),
            "{name}: FailedSOPSequence on success"
        );
        let item = &result.referenced()[0];
        let sop = exp["sop_instance_uid"].as_str().unwrap();
        assert_eq!(item["00081155"]["Value"][0], sop, "{name}");
        assert_eq!(item["00081150"]["Value"][0], exp["sop_class_uid"], "{name}");
        let series_uid = exp["series_instance_uid"].as_str().unwrap();
        assert_eq!(
            item["00081190"]["Value"][0].as_str().unwrap(),
            app.url(&format!(
                "/dicom-web/studies/{study_uid}/series/{series_uid}/instances/{sop}"
            )),
            "{name}"
        );
        assert_eq!(
            result.body["00081190"]["Value"][0].as_str().unwrap(),
            app.url(&format!("/dicom-web/studies/{study_uid}"))
        );

        // The index row.
        let row = app
            .state
            .index
            .instance(&SopInstanceUid::parse(sop).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: no index row"));
        assert_eq!(row.study_uid, study_uid, "{name}");
        assert_eq!(row.series_uid, series_uid, "{name}");
        assert_eq!(
            row.transfer_syntax_uid, exp["transfer_syntax_uid"],
            "{name}"
        );
        assert_eq!(row.blob_size, exp["size"].as_u64().unwrap(), "{name}");
        assert_eq!(row.rows, exp["rows"].as_i64(), "{name}");
        assert_eq!(row.columns, exp["columns"].as_i64(), "{name}");

        // The blob: exactly the bytes sent.
        let blob = app.state.store.get(&row.blob_key).await.unwrap();
        assert_eq!(blob.len(), bytes.len(), "{name}");
        assert!(
            blob == bytes,
            "{name}: stored bytes differ from the bytes sent"
        );
        assert_eq!(sha256_hex(&blob), exp["sha256"], "{name}");

        // Frames: the recorded byte ranges give exactly pydicom's frames.
        match (&exp["pixel_data"], &row.frames) {
            (Value::Null, frames) => assert!(frames.is_none(), "{name}: frames without pixel data"),
            (pixel, Some(frames)) => {
                let want = pixel["frames"].as_array().unwrap();
                assert_eq!(frames.len(), want.len(), "{name}: frame count");
                assert_eq!(
                    row.number_of_frames.unwrap_or(1),
                    want.len() as i64,
                    "{name}: NumberOfFrames"
                );
                for (i, (ranges, want)) in frames.iter().zip(want).enumerate() {
                    let mut frame = Vec::new();
                    for &(offset, len) in ranges {
                        let part = app
                            .state
                            .store
                            .get_range(&row.blob_key, offset..offset + len)
                            .await
                            .unwrap();
                        frame.extend_from_slice(&part);
                    }
                    assert_eq!(
                        frame.len() as u64,
                        want["length"].as_u64().unwrap(),
                        "{name} frame {i}"
                    );
                    assert_eq!(sha256_hex(&frame), want["sha256"], "{name} frame {i}");
                    checked_frames += 1;
                }
                if let Some(offset) = exp["pixel_data_value_offset"].as_u64() {
                    assert_eq!(frames[0][0].0, offset, "{name}: pixel data offset");
                }
            }
            (_, None) => {
                // Only a deflated data set may lack byte ranges.
                assert_eq!(
                    exp["transfer_syntax_uid"],
                    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
                    "{name}: frames not located"
                );
            }
        }

        // Study and series rows hold correctly decoded UTF-8.
        let study = app.study(study_uid).await.unwrap();
        assert_eq!(
            study.patient_name,
            opt(&exp["patient_name"]),
            "{name}: PatientName"
        );
        assert_eq!(
            study.patient_id,
            opt(&exp["patient_id"]),
            "{name}: PatientID"
        );
        assert_eq!(
            study.study_date,
            opt(&exp["study_date"]),
            "{name}: StudyDate"
        );
        assert_eq!(
            study.accession_number,
            opt(&exp["accession_number"]),
            "{name}: AccessionNumber"
        );
        let series = app.series(series_uid).await.unwrap();
        assert_eq!(series.modality, opt(&exp["modality"]), "{name}: Modality");
        if let Some(modality) = &series.modality {
            assert!(study.modalities_in_study.contains(modality), "{name}");
        }

        // Metadata: DICOM JSON without bulk data; names as in the file's character set.
        assert!(
            row.metadata.is_empty(),
            "{name}: the locator lookup carries no metadata"
        );
        let stored = app.stored_metadata(study_uid, series_uid, sop).await;
        let meta: Value = serde_json::from_str(&stored).unwrap();
        let meta = &meta;
        assert_eq!(meta["00080018"]["Value"][0], sop, "{name}");
        if exp["pixel_data"].is_object() {
            assert_eq!(
                meta["7FE00010"]["BulkDataURI"], "bulkdata/7FE00010",
                "{name}"
            );
            assert!(meta["7FE00010"].get("InlineBinary").is_none(), "{name}");
        }
        if let Some(pn) = opt(&exp["patient_name"]) {
            let groups = &meta["00100010"]["Value"][0];
            let alphabetic = pn.split('=').next().unwrap();
            if !alphabetic.is_empty() {
                assert_eq!(groups["Alphabetic"], alphabetic, "{name}: JSON PatientName");
            }
            if let Some(ideographic) = pn.split('=').nth(1).filter(|s| !s.is_empty()) {
                assert_eq!(
                    groups["Ideographic"], ideographic,
                    "{name}: JSON PatientName"
                );
            }
        }
    }
    let want_frames: usize = expected
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["transfer_syntax_uid"] != uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        .filter_map(|e| e["pixel_data"]["frames"].as_array().map(Vec::len))
        .sum();
    assert!(want_frames > 100);
    assert_eq!(
        checked_frames, want_frames,
        "every frame of every file checked"
    );
    assert_eq!(app.staging_files(), 0, "staging files left behind");
}

pub async fn stores_a_batch_in_one_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parts: Vec<Bytes> = (1..=12).map(ct_variant).collect();
    let result = StowResult::from(app.stow(&parts).await).await;
    assert_eq!(result.status, 200, "{}", result.body);
    assert!(!result.has_failed_sequence());
    let referenced = result.referenced();
    assert_eq!(referenced.len(), 12);
    for (n, item) in (1..=12).zip(&referenced) {
        assert_eq!(item["00081155"]["Value"][0], ct_variant_uid(n));
    }
    assert_eq!(app.counts().await, (1, 1, 12));
    assert_eq!(app.blob_count().await, 12);
    let study = app.study(CT_STUDY).await.unwrap();
    assert_eq!((study.num_series, study.num_instances), (1, 12));
    assert_eq!(study.modalities_in_study, vec!["CT".to_string()]);
    assert_eq!(
        study.sop_classes_in_study,
        vec![uids::CT_IMAGE_STORAGE.to_string()]
    );
    // Two studies in one request: no study-level RetrieveURL.
    let result = StowResult::from(
        app.stow(&[ct_variant(50), read_testdata("MR_small.dcm")])
            .await,
    )
    .await;
    assert_eq!(result.status, 200);
    assert!(result.body.get("00081190").is_none(), "{}", result.body);
    assert_eq!(app.counts().await, (2, 2, 14));
}

async fn expect_failure(app: &TestApp, context: &str, parts: &[Bytes], reason: u64) {
    let result = StowResult::from(app.stow(parts).await).await;
    assert_eq!(result.status, 409, "{context}: {}", result.body);
    assert_eq!(result.failure_reasons(), vec![reason], "{context}");
    assert!(result.referenced().is_empty(), "{context}");
    assert!(
        result.warning.is_some(),
        "{context}: no Warning header with the reason"
    );
    app.assert_empty(context).await;
}

async fn expect_status(response: reqwest::Response, status: u16, context: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{context}");
    let body = response.bytes().await.unwrap();
    let json: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{context}: not JSON: {}", String::from_utf8_lossy(&body)));
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{context}: {json}"
    );
    json
}

pub async fn bad_input_is_refused_and_nothing_is_stored(backend: Backend) {
    bad_input_refused(backend, None).await
}

async fn bad_input_refused(backend: Backend, spool: Option<u64>) {
    let app = TestApp::spawn_with(backend, |s| with_spool_limit(s, spool)).await;
    let ct = read_testdata(CT);

    expect_failure(
        &app,
        "not DICOM",
        &[Bytes::from_static(b"hello, this is not DICOM at all")],
        0xC000,
    )
    .await;
    expect_failure(&app, "truncated header", &[ct.slice(..600)], 0xC000).await;
    expect_failure(
        &app,
        "truncated pixel data",
        &[ct.slice(..ct.len() - 100)],
        0xC000,
    )
    .await;
    expect_failure(
        &app,
        "real truncated file",
        &[read_testdata("bad/MR_truncated.dcm")],
        0xC000,
    )
    .await;
    expect_failure(
        &app,
        "no file meta",
        &[read_testdata("bad/no_meta.dcm")],
        0xC000,
    )
    .await;

    // SOP Instance UID removed: its tag (0008,0018) renamed to (0008,0019).
    let data_set_start = 132 + 200;
    let mut no_sop = ct.to_vec();
    let at = no_sop[data_set_start..]
        .windows(6)
        .position(|w| w == b"\x08\x00\x18\x00UI")
        .unwrap()
        + data_set_start;
    no_sop[at + 2] = 0x19;
    expect_failure(
        &app,
        "missing SOP Instance UID",
        &[Bytes::from(no_sop)],
        0xA900,
    )
    .await;
    expect_failure(
        &app,
        "UID over 64 characters",
        &[ct_with_long_study_uid()],
        0xA900,
    )
    .await;

    // StudyInstanceUID differs from the URL: 409 with 0xA900.
    let result = StowResult::from(
        app.stow_to("/dicom-web/studies/1.2.3.4", std::slice::from_ref(&ct))
            .await,
    )
    .await;
    assert_eq!(result.status, 409);
    assert_eq!(result.failure_reasons(), vec![0xA900]);
    assert_eq!(result.failed()[0]["00081155"]["Value"][0], CT_SOP);
    app.assert_empty("study mismatch").await;
    // A malformed study UID in the URL is a bad request.
    let response = app
        .stow_to("/dicom-web/studies/not-a-uid", std::slice::from_ref(&ct))
        .await;
    expect_status(response, 400, "malformed study UID in URL").await;

    // Request-level problems.
    let mut truncated = multipart_body("b0undary", &[ct.clone(), ct_variant(2)]);
    truncated.truncate(truncated.len() - 2000);
    let response = app
        .post_raw(
            Some("multipart/related; type=\"application/dicom\"; boundary=b0undary"),
            truncated,
        )
        .await;
    expect_status(response, 400, "truncated multipart").await;
    app.assert_empty("truncated multipart").await;

    let body = multipart_body("b0undary", std::slice::from_ref(&ct));
    let response = app
        .post_raw(
            Some("multipart/related; type=\"application/dicom\""),
            body.clone(),
        )
        .await;
    expect_status(response, 400, "missing boundary").await;
    let response = app.post_raw(Some("application/json"), body.clone()).await;
    expect_status(response, 415, "wrong media type").await;
    let response = app
        .post_raw(
            Some("multipart/related; type=\"application/dicom+json\"; boundary=b0undary"),
            body.clone(),
        )
        .await;
    expect_status(response, 415, "unsupported multipart type").await;
    let response = app.post_raw(None, body).await;
    expect_status(response, 415, "no content type").await;
    let response = app.post_raw(Some("application/dicom"), Vec::new()).await;
    expect_status(response, 400, "empty body").await;
    let response = app
        .post_raw(
            Some("multipart/related; type=\"application/dicom\"; boundary=b0undary"),
            Vec::new(),
        )
        .await;
    expect_status(response, 400, "empty multipart body").await;
    let response = app
        .post_raw(
            Some("multipart/related; type=\"application/dicom\"; boundary=b0undary"),
            b"--b0undary--\r\n".to_vec(),
        )
        .await;
    expect_status(response, 400, "multipart without parts").await;
    app.assert_empty("after all bad requests").await;
}

pub async fn size_limits_answer_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.max_instance_size = tessera::config::ByteSize(20_000);
        s.max_request_size = tessera::config::ByteSize(60_000);
    })
    .await;
    let ct = read_testdata(CT); // 39 KB
    let response = app.stow(std::slice::from_ref(&ct)).await;
    expect_status(response, 413, "instance over max_instance_size").await;
    let response = app.post_raw(Some("application/dicom"), ct.to_vec()).await;
    expect_status(response, 413, "single part over max_instance_size").await;
    let small = read_testdata("chrH31.dcm"); // 2 KB
    let parts: Vec<Bytes> = std::iter::repeat_n(small.clone(), 40).collect();
    let response = app.stow(&parts).await;
    expect_status(response, 413, "request over max_request_size").await;
    // Streamed without Content-Length: the limit still holds while reading.
    let body = multipart_body("b0undary", &parts);
    let stream = futures::stream::iter(
        body.chunks(4096)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let response = app
        .client
        .post(app.url("/dicom-web/studies"))
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom\"; boundary=b0undary",
        )
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    expect_status(response, 413, "chunked request over max_request_size").await;
    app.assert_empty("after 413s").await;
    // Within the limits it works.
    let result = app.stow_one(&small).await;
    assert_eq!(result.status, 200);
}

pub async fn mixed_request_stores_the_good_part(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let parts = [
        ct_variant(1),
        Bytes::from_static(b"garbage"),
        ct_with_long_study_uid(),
        ct_variant(2),
    ];
    let result = StowResult::from(app.stow(&parts).await).await;
    assert_eq!(result.status, 202, "{}", result.body);
    let stored: Vec<_> = result
        .referenced()
        .iter()
        .map(|i| i["00081155"]["Value"][0].clone())
        .collect();
    assert_eq!(
        stored,
        vec![
            Value::from(ct_variant_uid(1)),
            Value::from(ct_variant_uid(2))
        ]
    );
    assert_eq!(result.failure_reasons(), vec![0xC000, 0xA900]);
    assert_eq!(app.counts().await, (1, 1, 2));
    assert_eq!(app.blob_count().await, 2);
}

pub async fn duplicate_policies(backend: Backend) {
    let original = read_testdata(CT);
    let mut changed = original.to_vec();
    let last = changed.len() - 1;
    changed[last] ^= 0x01; // same SOP Instance UID, different pixel
    let changed = Bytes::from(changed);
    let sop = SopInstanceUid::parse(CT_SOP).unwrap();

    // reject (the default)
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.stow_one(&original).await.status, 200);
    let result = app.stow_one(&changed).await;
    assert_eq!(result.status, 409);
    assert_eq!(result.failure_reasons(), vec![0x0111]);
    assert!(app.stored_bytes(CT_SOP).await == original);
    assert_eq!(app.blob_count().await, 1);

    // keep-first: accepted with a warning, the stored copy stays
    let app =
        TestApp::spawn_with(backend, |s| s.duplicate_policy = DuplicatePolicy::KeepFirst).await;
    assert_eq!(app.stow_one(&original).await.status, 200);
    let result = app.stow_one(&changed).await;
    assert_eq!(result.status, 202);
    assert!(!result.has_failed_sequence());
    assert_eq!(result.referenced()[0]["00081196"]["Value"][0], 0xB000);
    assert!(app.stored_bytes(CT_SOP).await == original);
    assert_eq!(app.blob_count().await, 1);

    // overwrite: the new copy replaces the old one, whose blob is deleted
    let app =
        TestApp::spawn_with(backend, |s| s.duplicate_policy = DuplicatePolicy::Overwrite).await;
    assert_eq!(app.stow_one(&original).await.status, 200);
    let first_key = app
        .state
        .index
        .instance(&sop)
        .await
        .unwrap()
        .unwrap()
        .blob_key;
    let result = app.stow_one(&changed).await;
    assert_eq!(result.status, 200);
    let row = app.state.index.instance(&sop).await.unwrap().unwrap();
    assert_ne!(row.blob_key, first_key);
    assert!(app.state.store.get(&row.blob_key).await.unwrap() == changed);
    assert_eq!(app.blob_count().await, 1);
    assert_eq!(app.counts().await, (1, 1, 1));

    // An overwrite that moves the instance to another series: the old series goes away.
    let old_series = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";
    let new_series = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.99999";
    let moved = Bytes::from(replace_all(
        &changed,
        old_series.as_bytes(),
        new_series.as_bytes(),
    ));
    let other = ct_variant(5); // stays in the old series
    assert_eq!(app.stow_one(&other).await.status, 200);
    assert_eq!(app.counts().await, (1, 1, 2));
    let result = app.stow_one(&moved).await;
    assert_eq!(result.status, 200);
    assert_eq!(app.counts().await, (1, 2, 2));
    let study = app.study(CT_STUDY).await.unwrap();
    assert_eq!((study.num_series, study.num_instances), (2, 2));
    for (series, count) in [(old_series, 1), (new_series, 1)] {
        let row = app.series(series).await.unwrap();
        assert_eq!(row.num_instances, count, "{series}");
    }
    // Move the other one too: the old series is empty and removed.
    let other_moved = Bytes::from(replace_all(
        &other,
        old_series.as_bytes(),
        new_series.as_bytes(),
    ));
    assert_eq!(app.stow_one(&other_moved).await.status, 200);
    assert_eq!(app.counts().await, (1, 1, 2));
    assert!(app.series(old_series).await.is_none());
    let study = app.study(CT_STUDY).await.unwrap();
    assert_eq!((study.num_series, study.num_instances), (1, 2));
    assert_eq!(app.blob_count().await, 2);
}

pub async fn concurrent_duplicates_one_wins(backend: Backend) {
    for policy in [DuplicatePolicy::Reject, DuplicatePolicy::Overwrite] {
        let app = TestApp::spawn_with(backend, |s| s.duplicate_policy = policy).await;
        let ct = read_testdata(CT);
        let requests = (0..8).map(|_| app.stow(std::slice::from_ref(&ct)));
        let results = futures::future::join_all(requests).await;
        let mut statuses = Vec::new();
        for response in results {
            let result = StowResult::from(response).await;
            if result.status == 409 {
                assert_eq!(result.failure_reasons(), vec![0x0111]);
            }
            statuses.push(result.status);
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        match policy {
            DuplicatePolicy::Reject => {
                assert_eq!(ok, 1, "{policy:?}: {statuses:?}");
                assert_eq!(
                    statuses.iter().filter(|s| **s == 409).count(),
                    7,
                    "{statuses:?}"
                );
            }
            _ => assert_eq!(ok, 8, "{policy:?}: {statuses:?}"),
        }
        assert_eq!(app.counts().await, (1, 1, 1), "{policy:?}");
        assert_eq!(
            app.blob_count().await,
            1,
            "{policy:?}: losing blobs must be deleted"
        );
        let row = app
            .state
            .index
            .instance(&SopInstanceUid::parse(CT_SOP).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(app.state.store.get(&row.blob_key).await.unwrap() == ct);
    }
}

pub async fn concurrent_requests_keep_counts_exact(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let requests = (0..16).map(|n| {
        let parts = [ct_variant(2 * n), ct_variant(2 * n + 1)];
        let app = &app;
        async move { app.stow(&parts).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let study = app.study(CT_STUDY).await.unwrap();
    assert_eq!((study.num_series, study.num_instances), (1, 32));
    assert_eq!(app.counts().await, (1, 1, 32));
}

pub async fn media_type_variants_and_xml(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Unquoted type, a part with a transfer-syntax parameter, no preamble handling needed.
    let boundary = "x-unquoted";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&ct_variant(1));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .post_raw(
            Some(&format!(
                "multipart/related; type=application/dicom; boundary={boundary}"
            )),
            body,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/dicom+json");
    // Single-part application/dicom.
    let response = app
        .post_raw(Some("application/dicom"), ct_variant(2).to_vec())
        .await;
    let result = StowResult::from(response).await;
    assert_eq!(result.status, 200);
    assert_eq!(
        result.referenced()[0]["00081155"]["Value"][0],
        ct_variant_uid(2)
    );
    // XML when asked.
    let response = app
        .client
        .post(app.url("/dicom-web/studies"))
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom\"; boundary=b",
        )
        .header("accept", "application/dicom+xml")
        .body(multipart_body(
            "b",
            &[ct_variant(3), Bytes::from_static(b"junk")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(response.headers()["content-type"], "application/dicom+xml");
    let xml = response.text().await.unwrap();
    assert!(xml.contains("<NativeDicomModel"), "{xml}");
    assert!(
        xml.contains("tag=\"00081199\" vr=\"SQ\" keyword=\"ReferencedSOPSequence\""),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<Value number=\"1\">{}</Value>",
            ct_variant_uid(3)
        )),
        "{xml}"
    );
    assert!(
        xml.contains("keyword=\"FailureReason\"><Value number=\"1\">49152</Value>"),
        "{xml}"
    );
    // Health.
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(health["status"], "ok");
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        assert_eq!(self.status().as_u16(), 200);
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

pub async fn orphan_blobs_are_swept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        StowResult::from(app.stow(&[ct_variant(1)]).await)
            .await
            .status,
        200
    );
    // A blob as a crash between blob write and index commit would leave it.
    let orphan = BlobKey::new_instance(
        &StudyUid::parse("1.2.3").unwrap(),
        &SeriesUid::parse("1.2.3.4").unwrap(),
        &SopInstanceUid::parse("1.2.3.4.5").unwrap(),
    );
    app.state
        .store
        .put(&orphan, Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    assert_eq!(app.blob_count().await, 2);
    // Within the grace period it stays (it could belong to a request in flight).
    let grace = Duration::from_secs(3600);
    let now = SystemTime::now();
    let report = sweep_orphans(&app.state.store, &app.state.index, grace, now)
        .await
        .unwrap();
    assert_eq!((report.examined, report.deleted), (2, 0));
    // An hour and a second later (the sweep's clock, moved forward) it goes.
    let later = now + grace + Duration::from_secs(1);
    let report = sweep_orphans(&app.state.store, &app.state.index, grace, later)
        .await
        .unwrap();
    assert_eq!((report.examined, report.deleted), (2, 1));
    assert_eq!(app.blob_count().await, 1);
    assert!(app.state.store.get(&orphan).await.is_err());
    assert_eq!(app.counts().await, (1, 1, 1));
}

pub async fn broken_real_files_never_500(backend: Backend) {
    broken_files_refused(backend, None).await
}

async fn broken_files_refused(backend: Backend, spool: Option<u64>) {
    let app = TestApp::spawn_with(backend, |s| with_spool_limit(s, spool)).await;
    let dir = testdata("bad");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(names.len() >= 10);
    for name in names {
        let name = name.to_string_lossy().to_string();
        let bytes = read_testdata(&format!("bad/{name}"));
        let result = StowResult::from(app.stow(&[bytes]).await).await;
        assert!(
            result.status == 409 || result.status == 200,
            "{name}: status {} {}",
            result.status,
            result.body
        );
        if result.status == 409 {
            let reasons = result.failure_reasons();
            assert!(
                reasons.iter().all(|r| [0xC000, 0xA900, 0xC122].contains(r)),
                "{name}: {reasons:x?}"
            );
        }
    }
    assert_eq!(app.staging_files(), 0, "staging files left behind");
}
