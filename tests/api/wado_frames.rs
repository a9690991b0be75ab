//! WADO-RS Retrieve Frames (PS3.18 10.4, 8.7.3) through HTTP against the real app, on the
//! SQLite and the PostgreSQL index (memory blob store; S3 for the cache): stored frames
//! against pydicom's hashes (testdata/expected.json), decoded frames against what pydicom
//! decodes (tests/support/pydicom_frames.py), negotiation, errors, the cache in /metrics.

use bytes::Bytes;
use dicom_dictionary_std::uids;
use sha2::Digest;

use crate::helpers::*;
use crate::pixels::*;

backend_tests! {
    every_index_in_memory => [
        stored_frames_are_the_stored_bytes,
        decoded_frames_match_pydicom,
        negotiation,
        bad_requests_and_missing_things,
    ];
    // The frame cache keeps frames of a remote store only.
    every_index_on_s3 => [
        cache_hits_show_in_metrics,
        small_cache_evicts_and_concurrent_reads_agree,
    ];
}

const AS_STORED: &str = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
const NATIVE: &str = "multipart/related; type=\"application/octet-stream\"";

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.duplicate_policy = tessera::index::DuplicatePolicy::Overwrite
    })
    .await
}

fn frame_hashes(name: &str) -> Vec<String> {
    expected()[name]["pixel_data"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sha256"].as_str().unwrap().to_string())
        .collect()
}

fn frame_list(n: usize) -> String {
    (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The transfer syntax frames are labelled with when served as stored.
fn stored_label(name: &str) -> String {
    let ts = expected()[name]["transfer_syntax_uid"]
        .as_str()
        .unwrap()
        .to_string();
    if ts == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN {
        uids::EXPLICIT_VR_LITTLE_ENDIAN.into()
    } else {
        ts
    }
}

pub async fn stored_frames_are_the_stored_bytes(backend: Backend) {
    let app = app(backend).await;
    let mut checked = 0;
    for name in files_with_pixels() {
        store(&app, &name).await;
        let hashes = frame_hashes(&name);
        let base = format!("{}/frames/", instance_path(&name));
        let label = stored_label(&name);

        // All frames in one request: one part each, in order, labelled as stored.
        let response = get(
            &app,
            &format!("{base}{}", frame_list(hashes.len())),
            Some(AS_STORED),
        )
        .await;
        assert_eq!(response.status(), 200, "{name}");
        let ct = content_type(&response);
        let parts = parse_multipart(
            &ct,
            "application/octet-stream",
            &response.bytes().await.unwrap(),
        );
        assert_eq!(parts.len(), hashes.len(), "{name}");
        for (i, (part, hash)) in parts.iter().zip(&hashes).enumerate() {
            assert_eq!(
                part.content_type,
                format!("application/octet-stream; transfer-syntax={label}"),
                "{name} frame {}",
                i + 1
            );
            assert_eq!(&sha256_hex(&part.body), hash, "{name} frame {}", i + 1);
            let names: Vec<&str> = part.headers.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["content-type", "content-length"]);
            checked += 1;
        }

        // Each frame alone, single part.
        for (i, hash) in hashes.iter().enumerate() {
            let response = get(
                &app,
                &format!("{base}{}", i + 1),
                Some("application/octet-stream; transfer-syntax=*"),
            )
            .await;
            assert_eq!(response.status(), 200, "{name} frame {}", i + 1);
            assert_eq!(
                content_type(&response),
                format!("application/octet-stream; transfer-syntax={label}")
            );
            assert_eq!(&sha256_hex(&response.bytes().await.unwrap()), hash);
        }

        // Frames come back in the order asked, repeats included.
        if hashes.len() > 1 {
            let last = hashes.len();
            let response = get(&app, &format!("{base}{last},1,{last}"), Some(AS_STORED)).await;
            let ct = content_type(&response);
            let parts = parse_multipart(
                &ct,
                "application/octet-stream",
                &response.bytes().await.unwrap(),
            );
            let got: Vec<String> = parts.iter().map(|p| sha256_hex(&p.body)).collect();
            assert_eq!(
                got,
                vec![
                    hashes[last - 1].clone(),
                    hashes[0].clone(),
                    hashes[last - 1].clone()
                ]
            );
        }
    }
    assert!(checked >= 90, "only {checked} frames checked");
}

/// What a decoded frame is compared with, per file.
enum Expect {
    /// pydicom's array, exactly.
    Exact,
    /// pydicom's array within a lossy codec's tolerance.
    Lossy(i64),
    /// pydicom's interleaved array, ours planar (Planar Configuration 1 stays as stored).
    ExactPlanar,
    /// Native frames that stay as stored (bit-packed, YBR_FULL_422): the stored hash.
    Stored,
    /// No codec here: 406.
    NotAcceptable,
}

fn expectation(name: &str) -> Expect {
    let e = &expected()[name];
    let ts = e["transfer_syntax_uid"].as_str().unwrap();
    match name {
        "ExplVR_BigEnd.dcm" => return Expect::ExactPlanar,
        "liver_1frame.dcm" | "SC_ybr_full_422_uncompressed.dcm" => return Expect::Stored,
        // 12-bit JPEG (process 4): no pure-Rust decoder handles 12-bit samples.
        "JPGExtended.dcm" => return Expect::NotAcceptable,
        // A fake delimiter inside the codestream: neither openjp2 nor pydicom decodes it.
        "JPEG2000-embedded-sequence-delimiter.dcm" => return Expect::NotAcceptable,
        _ => {}
    }
    match ts {
        uids::JPEGLS_LOSSLESS | uids::JPEGLS_NEAR_LOSSLESS if !cfg!(feature = "jpeg-ls") => {
            Expect::NotAcceptable
        }
        // libjpeg and jpeg-decoder disagree by up to 3 on a handful of YBR samples.
        uids::JPEG_BASELINE8_BIT | uids::JPEG_EXTENDED12_BIT => Expect::Lossy(3),
        uids::JPEG2000 => Expect::Lossy(2),
        _ => Expect::Exact,
    }
}

pub async fn decoded_frames_match_pydicom(backend: Backend) {
    let reference = reference();
    let app = app(backend).await;
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in files_with_pixels() {
        store(&app, &name).await;
        let hashes = frame_hashes(&name);
        let path = format!(
            "{}/frames/{}",
            instance_path(&name),
            frame_list(hashes.len())
        );
        let response = get(&app, &path, Some(NATIVE)).await;
        let expect = expectation(&name);
        if let Expect::NotAcceptable = expect {
            assert_eq!(response.status(), 406, "{name}");
            let message = response.text().await.unwrap();
            assert!(message.contains("not_acceptable"), "{name}: {message}");
            continue;
        }
        assert_eq!(response.status(), 200, "{name}");
        let ct = content_type(&response);
        let parts = parse_multipart(
            &ct,
            "application/octet-stream",
            &response.bytes().await.unwrap(),
        );
        assert_eq!(parts.len(), hashes.len(), "{name}");
        let entry = reference.entry(&name);
        for (i, part) in parts.iter().enumerate() {
            let n = i as u32 + 1;
            assert_eq!(
                part.content_type,
                format!(
                    "application/octet-stream; transfer-syntax={}",
                    uids::EXPLICIT_VR_LITTLE_ENDIAN
                ),
                "{name}"
            );
            let context = format!("{name} frame {n}");
            let theirs = || samples(&reference.frame(&name, n), entry["dtype"].as_str().unwrap());
            let ours = || samples(&part.body, entry["dtype"].as_str().unwrap());
            let outcome = match expect {
                Expect::Exact => compare_samples(&ours(), &theirs(), None, &context),
                Expect::Lossy(max) => compare_samples(&ours(), &theirs(), Some(max), &context),
                Expect::ExactPlanar => {
                    let planar = ours();
                    let plane = planar.len() / 3;
                    let interleaved: Vec<i64> = (0..plane)
                        .flat_map(|p| [planar[p], planar[plane + p], planar[2 * plane + p]])
                        .collect();
                    compare_samples(&interleaved, &theirs(), None, &context)
                }
                Expect::Stored => {
                    if sha256_hex(&part.body) == hashes[i] {
                        Ok(())
                    } else {
                        Err(format!(
                            "{context}: native frame differs from the stored one"
                        ))
                    }
                }
                Expect::NotAcceptable => unreachable!(),
            };
            if let Err(e) = outcome {
                failures.push(e);
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(compared >= 80, "only {compared} frames compared");
}

pub async fn negotiation(backend: Backend) {
    let app = app(backend).await;
    for name in [
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "examples_jpeg2k.dcm",
        "CT_small.dcm",
    ] {
        store(&app, name).await;
    }
    let frame = |name: &str| format!("{}/frames/1", instance_path(name));
    let hash = |name: &str| frame_hashes(name)[0].clone();
    async fn status(app: &TestApp, name: &str, accept: &str) -> u16 {
        let path = format!("{}/frames/1", instance_path(name));
        get(app, &path, Some(accept)).await.status().as_u16()
    }

    // An image type whose default syntax is the stored one: single part, as stored.
    let r = get(&app, &frame("MR_small_RLE.dcm"), Some("image/dicom-rle")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        content_type(&r),
        "image/dicom-rle; transfer-syntax=1.2.840.10008.1.2.5"
    );
    assert_eq!(
        sha256_hex(&r.bytes().await.unwrap()),
        hash("MR_small_RLE.dcm")
    );
    let r = get(&app, &frame("examples_jpeg2k.dcm"), Some("image/jp2")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        sha256_hex(&r.bytes().await.unwrap()),
        hash("examples_jpeg2k.dcm")
    );

    // image/jpeg defaults to JPEG Lossless (.70): a baseline JPEG needs its UID or `*`.
    assert_eq!(
        status(&app, "SC_rgb_jpeg_dcmtk.dcm", "image/jpeg").await,
        406
    );
    let r = get(
        &app,
        &frame("SC_rgb_jpeg_dcmtk.dcm"),
        Some("multipart/related; type=\"image/jpeg\"; transfer-syntax=1.2.840.10008.1.2.4.50"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ct = content_type(&r);
    let parts = parse_multipart(&ct, "image/jpeg", &r.bytes().await.unwrap());
    assert_eq!(
        parts[0].content_type,
        "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    );
    assert_eq!(sha256_hex(&parts[0].body), hash("SC_rgb_jpeg_dcmtk.dcm"));
    let r = get(
        &app,
        &frame("SC_rgb_jpeg_dcmtk.dcm"),
        Some("image/jpeg; transfer-syntax=*"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        sha256_hex(&r.bytes().await.unwrap()),
        hash("SC_rgb_jpeg_dcmtk.dcm")
    );

    // Nothing is transcoded into a compressed syntax.
    for accept in [
        "image/jp2",
        "image/png",
        "application/dicom",
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90",
        "multipart/related; type=\"image/jls\"",
    ] {
        assert_eq!(
            status(&app, "SC_rgb_jpeg_dcmtk.dcm", accept).await,
            406,
            "{accept}"
        );
    }
    assert_eq!(status(&app, "CT_small.dcm", "image/jpeg").await, 406);

    // The first acceptable range wins; q values order them.
    let r = get(
        &app,
        &frame("SC_rgb_jpeg_dcmtk.dcm"),
        Some("image/jp2, multipart/related; type=application/octet-stream; transfer-syntax=*; q=0.5, application/octet-stream; q=0.1"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ct = content_type(&r);
    let parts = parse_multipart(&ct, "application/octet-stream", &r.bytes().await.unwrap());
    assert_eq!(sha256_hex(&parts[0].body), hash("SC_rgb_jpeg_dcmtk.dcm"));

    // The accept query parameter overrides the header.
    let r = get(
        &app,
        &format!("{}?accept=application/octet-stream", frame("CT_small.dcm")),
        Some("image/png"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        content_type(&r),
        format!(
            "application/octet-stream; transfer-syntax={}",
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        )
    );
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), hash("CT_small.dcm"));

    // No Accept at all: multipart, native.
    let r = get(&app, &frame("MR_small_RLE.dcm"), None).await;
    assert_eq!(r.status(), 200);
    let ct = content_type(&r);
    let parts = parse_multipart(&ct, "application/octet-stream", &r.bytes().await.unwrap());
    assert_eq!(parts[0].body.len(), 64 * 64 * 2);
    assert_eq!(
        sha256_hex(&parts[0].body),
        hash("MR_small.dcm"),
        "RLE decodes to MR_small"
    );

    // Big endian: as stored when asked by UID, byte-swapped by default. (Same SOP Instance
    // UID as MR_small_RLE: this copy replaces it.)
    store(&app, "MR_small_bigendian.dcm").await;
    let r = get(
        &app,
        &frame("MR_small_bigendian.dcm"),
        Some("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.2"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        sha256_hex(&r.bytes().await.unwrap()),
        hash("MR_small_bigendian.dcm")
    );
    let r = get(
        &app,
        &frame("MR_small_bigendian.dcm"),
        Some("application/octet-stream"),
    )
    .await;
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), hash("MR_small.dcm"));
    assert_eq!(
        status(
            &app,
            "CT_small.dcm",
            "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.2"
        )
        .await,
        406
    );
    // Implicit VR Little Endian frames are the same bytes.
    let r = get(
        &app,
        &frame("CT_small.dcm"),
        Some("application/octet-stream; transfer-syntax=1.2.840.10008.1.2"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), hash("CT_small.dcm"));
}

pub async fn bad_requests_and_missing_things(backend: Backend) {
    let app = app(backend).await;
    store(&app, "CT_small.dcm").await;
    store(&app, "rtplan.dcm").await;
    store(&app, "rtdose.dcm").await;
    let ct = instance_path("CT_small.dcm");
    let e = &expected()["CT_small.dcm"];
    let (study, series) = (
        e["study_instance_uid"].as_str().unwrap(),
        e["series_instance_uid"].as_str().unwrap(),
    );
    let long = format!("1.{}", "2".repeat(70));
    let cases: Vec<(String, u16)> = vec![
        (format!("{ct}/frames/1"), 200),
        // Malformed frame lists.
        (format!("{ct}/frames/0"), 400),
        (format!("{ct}/frames/a"), 400),
        (format!("{ct}/frames/1,,2"), 400),
        (format!("{ct}/frames/-1"), 400),
        (format!("{ct}/frames/1.5"), 400),
        (format!("{ct}/frames/%20"), 400),
        // Malformed UIDs.
        (
            format!("/dicom-web/studies/1.2.abc/series/{series}/instances/1.2/frames/1"),
            400,
        ),
        (
            format!("/dicom-web/studies/{study}/series/{series}/instances/{long}/frames/1"),
            400,
        ),
        // Out of range, unknown, misplaced, without pixel data.
        (format!("{ct}/frames/2"), 404),
        (format!("{ct}/frames/1,99"), 404),
        (format!("{}/frames/16", instance_path("rtdose.dcm")), 404),
        (format!("{}/frames/15", instance_path("rtdose.dcm")), 200),
        (
            format!("/dicom-web/studies/{study}/series/{series}/instances/1.2.3.4/frames/1"),
            404,
        ),
        (
            format!(
                "/dicom-web/studies/1.2.3/series/{series}/instances/{}/frames/1",
                e["sop_instance_uid"].as_str().unwrap()
            ),
            404,
        ),
        (
            format!(
                "/dicom-web/studies/{study}/series/1.2.3/instances/{}/frames/1",
                e["sop_instance_uid"].as_str().unwrap()
            ),
            404,
        ),
        (format!("{}/frames/1", instance_path("rtplan.dcm")), 404),
    ];
    for (path, want) in cases {
        let r = get(&app, &path, Some(AS_STORED)).await;
        assert_eq!(r.status().as_u16(), want, "{path}");
        if want != 200 {
            assert_eq!(content_type(&r), "application/json", "{path}");
            let body: serde_json::Value =
                serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{path}"
            );
        }
    }
}

fn counter(m: &std::collections::HashMap<String, f64>, name: &str) -> f64 {
    m.get(name)
        .copied()
        .unwrap_or_else(|| panic!("no metric {name}"))
}

pub async fn cache_hits_show_in_metrics(backend: Backend) {
    // Frames as stored are cached from a remote store only (local files and memory blobs
    // need no second copy): this runs on the real S3 server (the backend is on S3).
    let app = TestApp::spawn_with(backend, |s| {
        s.duplicate_policy = tessera::index::DuplicatePolicy::Overwrite
    })
    .await;
    store(&app, "CT_small.dcm").await;
    store(&app, "MR_small_RLE.dcm").await;
    let path = format!("{}/frames/1", instance_path("CT_small.dcm"));
    let before = metrics(&app).await;
    let single = "application/octet-stream; transfer-syntax=*";
    let first = get(&app, &path, Some(single)).await.bytes().await.unwrap();
    let middle = metrics(&app).await;
    let second = get(&app, &path, Some(single)).await.bytes().await.unwrap();
    let after = metrics(&app).await;
    assert_eq!(first, second);
    let hits = "tessera_frame_cache_hits_total";
    let misses = "tessera_frame_cache_misses_total";
    assert_eq!(counter(&middle, misses) - counter(&before, misses), 1.0);
    assert_eq!(counter(&middle, hits), counter(&before, hits));
    assert_eq!(
        counter(&after, hits) - counter(&middle, hits),
        1.0,
        "second read is a hit"
    );
    assert_eq!(counter(&after, misses), counter(&middle, misses));
    assert_eq!(
        counter(&after, "tessera_frames_served_total")
            - counter(&before, "tessera_frames_served_total"),
        2.0
    );
    assert!(counter(&after, "tessera_frame_cache_bytes") >= 32768.0);
    assert!(
        counter(
            &after,
            "tessera_http_requests_total{family=\"frames\",status=\"2xx\"}"
        ) >= 2.0
    );
    assert!(
        counter(
            &after,
            "tessera_http_requests_total{family=\"stow\",status=\"2xx\"}"
        ) >= 2.0
    );

    // A decoded frame is decoded once, then served from the cache.
    let rle = format!("{}/frames/1", instance_path("MR_small_RLE.dcm"));
    let decoded = "tessera_frames_decoded_total";
    let start = counter(&metrics(&app).await, decoded);
    for _ in 0..3 {
        let r = get(&app, &rle, Some("application/octet-stream")).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(counter(&metrics(&app).await, decoded) - start, 1.0);
    let r = get(
        &app,
        &format!("{}/frames/2", instance_path("CT_small.dcm")),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let m = metrics(&app).await;
    assert!(
        counter(
            &m,
            "tessera_http_requests_total{family=\"frames\",status=\"4xx\"}"
        ) >= 1.0
    );
}

pub async fn small_cache_evicts_and_concurrent_reads_agree(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.frame_cache_size = tessera::config::ByteSize(64 * 1024);
    })
    .await;
    store(&app, "examples_ybr_color.dcm").await;
    let hashes = frame_hashes("examples_ybr_color.dcm");
    let base = format!("{}/frames/", instance_path("examples_ybr_color.dcm"));
    // 60 concurrent single-frame reads, as a viewer does, twice over every frame.
    let count = hashes.len();
    let requests = (0..60).map(|i| {
        let path = format!("{base}{}", i % count + 1);
        let app = &app;
        async move {
            let r = get(app, &path, Some(AS_STORED)).await;
            assert_eq!(r.status(), 200);
            let ct = content_type(&r);
            let parts = parse_multipart(&ct, "application/octet-stream", &r.bytes().await.unwrap());
            (i % count, sha2::Sha256::digest(&parts[0].body))
        }
    });
    for (frame, digest) in futures::future::join_all(requests).await {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, hashes[frame], "frame {}", frame + 1);
    }
    let m = metrics(&app).await;
    assert!(counter(&m, "tessera_frame_cache_evictions_total") > 0.0);
    assert!(counter(&m, "tessera_frame_cache_bytes") <= 64.0 * 1024.0);
    assert_eq!(counter(&m, "tessera_frame_cache_capacity_bytes"), 65536.0);
}

/// A frame read of an instance overwritten between the index lookup and the blob read (the
/// old blob deleted by then) is served from the new copy, not answered 404: the race the
/// soak run (scripts/bench/soak.py) met once every few minutes.
#[tokio::test]
async fn a_frame_of_an_instance_overwritten_meanwhile_comes_from_the_new_copy() {
    use tessera::frames::syntax::Source;
    use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| {
        s.duplicate_policy = tessera::index::DuplicatePolicy::Overwrite;
    })
    .await;
    let mf = crate::synthetic::MultiFrame::new(91, 32, 3);
    assert_eq!(app.stow_one(&mf.file).await.status, 200);
    let (study, series, sop) = (
        StudyUid::parse(&mf.study_uid).unwrap(),
        SeriesUid::parse(&mf.series_uid).unwrap(),
        SopInstanceUid::parse(&mf.sop_uid).unwrap(),
    );
    let frames = &app.state.frames;
    let before = frames.instance(&study, &series, &sop).await.unwrap();
    // Stored again: the row now names a new blob, and the old one is gone.
    assert_eq!(app.stow_one(&mf.file).await.status, 200);
    assert!(matches!(
        app.state.store.get(&before.row.blob_key).await,
        Err(tessera::storage::StorageError::NotFound { .. })
    ));
    let got = frames
        .frames(&before, &[2, 3], Source::Stored)
        .await
        .unwrap();
    assert_eq!(got, vec![mf.frame(2), mf.frame(3)]);
    app.stop().await;
}

/// One frame as stored, single part: (status, body).
async fn one_frame(app: &TestApp, study: &str, series: &str, sop: &str, n: u32) -> (u16, Bytes) {
    let path = format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/frames/{n}");
    let response = app
        .client
        .get(app.url(&path))
        .header("accept", "application/octet-stream; transfer-syntax=*")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap())
}

/// The frames service keeps where an instance's frames are after the first lookup
/// (frames::locators): a delete is seen at once, and an instance filed again in another
/// series is found there and no longer in the old one.
#[tokio::test]
async fn kept_frame_locations_follow_deletes_and_refiled_instances() {
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| {
        s.duplicate_policy = tessera::index::DuplicatePolicy::Overwrite;
    })
    .await;
    let mf = crate::synthetic::MultiFrame::new(93, 16, 3);
    let (study, series, sop) = (&mf.study_uid, &mf.series_uid, &mf.sop_uid);
    assert_eq!(app.stow_one(&mf.file).await.status, 200);
    for _ in 0..2 {
        assert_eq!(
            one_frame(&app, study, series, sop, 2).await,
            (200, mf.frame(2))
        );
    }

    // Filed again, with a fourth frame, in another series of the study.
    let moved = crate::synthetic::MultiFrame::in_series(93, 16, 4, "2.25.7070.9.93");
    assert_eq!(app.stow_one(&moved.file).await.status, 200);
    assert_eq!(
        one_frame(&app, study, &moved.series_uid, sop, 4).await,
        (200, moved.frame(4))
    );
    let (status, _) = one_frame(&app, study, series, sop, 2).await;
    assert_eq!(status, 404, "not in its old series any more");
    assert_eq!(
        one_frame(&app, study, &moved.series_uid, sop, 2).await,
        (200, moved.frame(2))
    );

    // Deleted: 404 on the next request, though the location was kept a moment ago.
    let response = app
        .client
        .delete(app.url(&format!("/dicom-web/studies/{study}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, body) = one_frame(&app, study, &moved.series_uid, sop, 2).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    app.stop().await;
}
