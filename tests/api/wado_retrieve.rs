//! WADO-RS retrieve (PS3.18 10.4.1.1.1) through HTTP against the real application: bit-exact
//! round trips of every test file, the default transfer syntax, Accept negotiation and the
//! error statuses. Expectations come from the files themselves and from pydicom's reading of
//! them (testdata/expected.json), not from the server's own code.

use dicom_dictionary_std::uids;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use dicom_core::header::Header;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use serde_json::Value;
use tessera::index::DuplicatePolicy;

use crate::helpers::*;
use crate::wado_support::*;

backend_tests! {
    every_index_in_memory => [
        round_trip_bit_exact,
        default_transfer_syntax_is_explicit_little_endian,
        accept_negotiation,
        errors,
    ];
    [sqlite_local, sqlite_s3] => [round_trip_bit_exact];
}

pub async fn round_trip_bit_exact(backend: Backend) {
    // Several files share SOP Instance UIDs: each overwrites the last.
    let app =
        TestApp::spawn_with(backend, |s| s.duplicate_policy = DuplicatePolicy::Overwrite).await;
    let expected = expected();
    let mut current: BTreeMap<String, (Value, Bytes)> = BTreeMap::new();
    for (name, exp) in expected.as_object().unwrap() {
        let bytes = read_testdata(name);
        assert_eq!(app.stow_one(&bytes).await.status, 200, "{name}");
        current.insert(
            exp["sop_instance_uid"].as_str().unwrap().to_string(),
            (exp.clone(), bytes.clone()),
        );
        let path = instance_path(exp);
        let stored_ts = ts_of(exp);
        for accept in [
            DICOM_ANY.to_string(),
            format!("multipart/related; type=\"application/dicom\"; transfer-syntax={stored_ts}"),
        ] {
            let parts = get_parts(
                &app,
                &path,
                &[("accept", &accept)],
                "application/dicom",
                name,
            )
            .await;
            assert_eq!(parts.len(), 1, "{name}");
            assert!(parts[0].body == bytes, "{name}: not bit-exact ({accept})");
            assert_eq!(
                parts[0].transfer_syntax().as_deref(),
                Some(stored_ts),
                "{name}"
            );
        }
        // A single application/dicom part for one instance.
        let response = get(
            &app,
            &path,
            &[("accept", "application/dicom; transfer-syntax=*")],
        )
        .await;
        assert_eq!(response.status().as_u16(), 200, "{name}");
        assert_eq!(
            content_type(&response),
            format!("application/dicom; transfer-syntax={stored_ts}")
        );
        assert_eq!(
            response.headers()["content-length"],
            bytes.len().to_string().as_str()
        );
        assert!(
            response.bytes().await.unwrap() == bytes,
            "{name}: single part"
        );
    }
    // Series and studies: every instance stored there now, bit-exact, once.
    let mut scopes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (exp, bytes) in current.values() {
        for path in [series_path(exp), study_path(exp)] {
            scopes.entry(path).or_default().push(sha256_hex(bytes));
        }
    }
    assert!(scopes.len() > 40);
    for (path, mut want) in scopes {
        let parts = get_parts(
            &app,
            &path,
            &[("accept", DICOM_ANY)],
            "application/dicom",
            &path,
        )
        .await;
        let mut got: Vec<String> = parts.iter().map(|p| sha256_hex(&p.body)).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{path}");
    }
}

/// Tags whose values decoding may legitimately change (Image Pixel module, pixel data).
fn pixel_module(tag: Tag) -> bool {
    tag.group() == 0x0028 || tag.group() == 0x7FE0 || tag.group() == 0x0002
}

pub async fn default_transfer_syntax_is_explicit_little_endian(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |s| s.duplicate_policy = DuplicatePolicy::Overwrite).await;
    let expected = expected();
    let mut decoded = 0;
    let mut refused = Vec::new();
    for (name, exp) in expected.as_object().unwrap() {
        let bytes = read_testdata(name);
        assert_eq!(app.stow_one(&bytes).await.status, 200, "{name}");
        let path = instance_path(exp);
        let stored_ts = ts_of(exp);
        if !decodable(exp) || name == "JPEG2000-embedded-sequence-delimiter.dcm" {
            let response = get(&app, &path, &[("accept", DICOM_DEFAULT)]).await;
            let message = expect_error(response, 406, name).await;
            assert!(
                message.contains(stored_ts) || message.contains("cannot transcode"),
                "{name}: {message}"
            );
            refused.push(name.clone());
            continue;
        }
        let parts = get_parts(
            &app,
            &path,
            &[("accept", DICOM_DEFAULT)],
            "application/dicom",
            name,
        )
        .await;
        assert_eq!(parts.len(), 1);
        assert_eq!(
            parts[0].transfer_syntax().as_deref(),
            Some(uids::EXPLICIT_VR_LITTLE_ENDIAN),
            "{name}"
        );
        if stored_ts == uids::EXPLICIT_VR_LITTLE_ENDIAN {
            assert!(
                parts[0].body == bytes,
                "{name}: uids::EXPLICIT_VR_LITTLE_ENDIAN must be served as stored"
            );
        }
        let got = dicom(&parts[0].body, name);
        let original = dicom(&bytes, name);
        assert_eq!(
            got.meta().transfer_syntax(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            "{name}"
        );
        // Same attributes, values and all, outside the pixel module.
        for element in original.iter() {
            let tag = element.tag();
            if pixel_module(tag) {
                continue;
            }
            let mine = got
                .element(tag)
                .unwrap_or_else(|_| panic!("{name}: {tag} lost"));
            match (element.value().primitive(), mine.value().primitive()) {
                (Some(a), Some(b)) => assert_eq!(a, b, "{name}: {tag}"),
                _ => assert_eq!(
                    element.items().map(<[_]>::len),
                    mine.items().map(<[_]>::len),
                    "{name}: {tag}"
                ),
            }
        }
        assert_eq!(
            text(&got, tags::SOP_INSTANCE_UID).as_deref(),
            exp["sop_instance_uid"].as_str()
        );
        if !exp["pixel_data"].is_object() {
            continue;
        }
        let pixels = binary(&got, tags::PIXEL_DATA).unwrap_or_else(|| panic!("{name}: no pixels"));
        if stored_ts == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN {
            assert_frames(&pixels, exp, name);
        } else if is_native(stored_ts) {
            let want = native_pixels_little_endian(&bytes, exp);
            assert!(pixels == want, "{name}: pixel data differs");
        } else {
            let want = decoded_length(exp);
            assert!(
                pixels.len() == want || pixels.len() == want + 1,
                "{name}: decoded {} bytes, want {want}",
                pixels.len()
            );
            decoded += 1;
        }
        // Lossless encodings of MR_small decode to MR_small's pixels exactly.
        if name.starts_with("MR_small_")
            && [
                uids::RLE_LOSSLESS,
                uids::JPEGLS_LOSSLESS,
                uids::JPEG2000_LOSSLESS,
            ]
            .contains(&stored_ts)
        {
            assert_frames(&pixels, &expected["MR_small.dcm"], name);
        }
    }
    // MR_small_jpeg_ls_lossless decodes only with the jpeg-ls feature (CharLS).
    let jpeg_ls = usize::from(cfg!(feature = "jpeg-ls"));
    assert_eq!(decoded, 11 + jpeg_ls, "encapsulated files decoded");
    // rtdose_rle: 32-bit samples, which dicom-pixeldata cannot write natively, and
    // JPGExtended: 12-bit lossy JPEG (both refused from the index row);
    // JPEG2000-embedded-sequence-delimiter: dicom-rs cannot read fragments
    // holding a sequence delimiter's bytes (refused when decoding fails).
    let mut expected_refused = vec![
        "JPEG2000-embedded-sequence-delimiter.dcm".to_string(),
        "JPGExtended.dcm".to_string(),
        "rtdose_rle.dcm".to_string(),
    ];
    if !cfg!(feature = "jpeg-ls") {
        expected_refused.push("MR_small_jpeg_ls_lossless.dcm".to_string());
    }
    expected_refused.sort();
    refused.sort();
    assert_eq!(refused, expected_refused);
}

/// CT_small moved into another study and series under a new SOP Instance UID.
fn ct_in_study(study: &str, n: u32) -> (Bytes, String) {
    let bytes = read_testdata(CT);
    let mut object = dicom(&bytes, "CT");
    let sop = format!("1.2.826.0.1.3680043.9.7777.{n}");
    let series = format!("{study}.77{n}");
    object.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, study));
    object.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        series.as_str(),
    ));
    object.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        sop.as_str(),
    ));
    object.update_meta(|m| m.media_storage_sop_instance_uid = sop.clone());
    let mut out = Vec::new();
    object.write_all(&mut out).unwrap();
    (Bytes::from(out), sop)
}

pub async fn accept_negotiation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ct = exp(CT);
    let rgb = exp("examples_rgb_color.dcm");
    let ct_bytes = read_testdata(CT);
    let rgb_bytes = read_testdata("examples_rgb_color.dcm");
    let rgb_study = rgb["study_instance_uid"].as_str().unwrap();
    let (ct_moved, _) = ct_in_study(rgb_study, 1);
    let result = StowResult::from(
        app.stow(&[ct_bytes.clone(), rgb_bytes.clone(), ct_moved])
            .await,
    )
    .await;
    assert_eq!(result.status, 200, "{}", result.body);
    let ct_path = instance_path(&ct);

    // q-values: a preferred range that cannot be met gives way to the next.
    let parts = get_parts(
        &app,
        &ct_path,
        &[(
            "accept",
            "image/png, multipart/related; type=\"application/dicom\"; transfer-syntax=*; q=0.5",
        )],
        "application/dicom",
        "q-values",
    )
    .await;
    assert!(parts[0].body == ct_bytes);
    // */* and no Accept at all: multipart application/dicom in the default syntax.
    for headers in [vec![("accept", "*/*")], vec![]] {
        let parts = get_parts(&app, &ct_path, &headers, "application/dicom", "*/*").await;
        assert_eq!(
            parts[0].transfer_syntax().as_deref(),
            Some(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        );
        assert!(parts[0].body == ct_bytes);
    }
    // The accept query parameter overrides the header.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("accept", DICOM_ANY)
        .finish();
    let parts = get_parts(
        &app,
        &format!("{ct_path}?{query}"),
        &[("accept", "image/png")],
        "application/dicom",
        "accept=",
    )
    .await;
    assert!(parts[0].body == ct_bytes);
    // Unquoted type.
    let parts = get_parts(
        &app,
        &ct_path,
        &[(
            "accept",
            "multipart/related; type=application/dicom; transfer-syntax=*",
        )],
        "application/dicom",
        "unquoted",
    )
    .await;
    assert!(parts[0].body == ct_bytes);
    // Unacceptable media types.
    for accept in ["image/png", "application/dicom+json", "text/html"] {
        let response = get(&app, &ct_path, &[("accept", accept)]).await;
        expect_error(response, 406, accept).await;
    }
    let response = get(&app, &series_path(&ct), &[("accept", "application/dicom")]).await;
    let message = expect_error(response, 406, "single part for a series").await;
    assert!(message.contains("multipart/related"), "{message}");
    // Transfer syntaxes that cannot be produced.
    for (ts, why) in [
        (uids::JPEG2000_LOSSLESS, "no encoder"),
        (uids::JPEG_BASELINE8_BIT, "8 bit"),
        (uids::RLE_LOSSLESS, "no encoder"),
        ("1.2.3.4.5", "unknown"),
    ] {
        let accept = format!("multipart/related; type=\"application/dicom\"; transfer-syntax={ts}");
        let response = get(&app, &ct_path, &[("accept", &accept)]).await;
        let message = expect_error(response, 406, ts).await;
        assert!(message.contains(why), "{ts}: {message}");
    }
    // Implicit VR Little Endian on request: same pixels, re-encoded data set.
    let parts = get_parts(
        &app,
        &ct_path,
        &[(
            "accept",
            &format!(
                "{DICOM_DEFAULT}; transfer-syntax={}",
                uids::IMPLICIT_VR_LITTLE_ENDIAN
            ),
        )],
        "application/dicom",
        "implicit",
    )
    .await;
    assert_eq!(
        parts[0].transfer_syntax().as_deref(),
        Some(uids::IMPLICIT_VR_LITTLE_ENDIAN)
    );
    let got = dicom(&parts[0].body, "implicit");
    assert_eq!(
        got.meta().transfer_syntax(),
        uids::IMPLICIT_VR_LITTLE_ENDIAN
    );
    assert_frames(&binary(&got, tags::PIXEL_DATA).unwrap(), &ct, "implicit");
    // JPEG-LS lossless from native 16-bit: decodes back to the same pixels.
    let accept = format!("{DICOM_DEFAULT}; transfer-syntax={}", uids::JPEGLS_LOSSLESS);
    let response = get(&app, &ct_path, &[("accept", &accept)]).await;
    if cfg!(feature = "jpeg-ls") {
        assert_eq!(response.status().as_u16(), 200);
        let ctype = content_type(&response);
        let body = response.bytes().await.unwrap();
        let parts = parse_multipart(&ctype, &body, "jpeg-ls");
        assert_eq!(
            parts[0].transfer_syntax().as_deref(),
            Some(uids::JPEGLS_LOSSLESS)
        );
        let object = dicom(&parts[0].body, "jpeg-ls");
        assert_eq!(object.meta().transfer_syntax(), uids::JPEGLS_LOSSLESS);
        use dicom_pixeldata::PixelDecoder;
        let decoded = object.decode_pixel_data().unwrap();
        let pixels: Vec<u8> = decoded
            .data_ow()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_frames(&pixels, &ct, "jpeg-ls round trip");
    } else {
        expect_error(response, 406, "jpeg-ls").await;
    }
    // JPEG Baseline from 8-bit RGB.
    let parts = get_parts(
        &app,
        &instance_path(&rgb),
        &[(
            "accept",
            &format!(
                "{DICOM_DEFAULT}; transfer-syntax={}",
                uids::JPEG_BASELINE8_BIT
            ),
        )],
        "application/dicom",
        "jpeg",
    )
    .await;
    assert_eq!(
        parts[0].transfer_syntax().as_deref(),
        Some(uids::JPEG_BASELINE8_BIT)
    );
    let object = dicom(&parts[0].body, "jpeg");
    assert_eq!(object.meta().transfer_syntax(), uids::JPEG_BASELINE8_BIT);
    assert!(object
        .element(tags::PIXEL_DATA)
        .unwrap()
        .fragments()
        .is_some());

    // A study whose 16-bit CT cannot be JPEG Baseline: 406 for the whole request, decided
    // before anything is sent...
    let study_path = format!("/dicom-web/studies/{rgb_study}");
    let accept = format!(
        "{DICOM_DEFAULT}; transfer-syntax={}",
        uids::JPEG_BASELINE8_BIT
    );
    let response = get(&app, &study_path, &[("accept", &accept)]).await;
    let message = expect_error(response, 406, "one instance cannot be transcoded").await;
    assert!(
        message.contains("1.2.826.0.1.3680043.9.7777.1"),
        "{message}"
    );
    // ...while a fallback range lets each instance take the best it can.
    let accept = format!("{accept}, {DICOM_ANY}; q=0.5");
    let parts = get_parts(
        &app,
        &study_path,
        &[("accept", &accept)],
        "application/dicom",
        "fallback",
    )
    .await;
    let syntaxes: BTreeSet<String> = parts.iter().filter_map(Part::transfer_syntax).collect();
    assert_eq!(
        syntaxes,
        BTreeSet::from([
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::JPEG_BASELINE8_BIT.to_string()
        ])
    );
}

pub async fn errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.stow_one(&read_testdata(CT)).await.status, 200);
    let ct = exp(CT);
    let study = ct["study_instance_uid"].as_str().unwrap();
    let series = ct["series_instance_uid"].as_str().unwrap();
    let sop = ct["sop_instance_uid"].as_str().unwrap();
    let unknown = "1.2.3.4.5.6.7.8.9";
    let long = format!("1.{}", "2".repeat(70));
    let cases = [
        (format!("/dicom-web/studies/{unknown}"), 404),
        (format!("/dicom-web/studies/{study}/series/{unknown}"), 404),
        (format!("/dicom-web/studies/{unknown}/series/{series}"), 404),
        (
            format!("/dicom-web/studies/{study}/series/{series}/instances/{unknown}"),
            404,
        ),
        (
            format!("/dicom-web/studies/{study}/series/{unknown}/instances/{sop}"),
            404,
        ),
        ("/dicom-web/studies/1.2.abc".to_string(), 400),
        (format!("/dicom-web/studies/{long}"), 400),
        (format!("/dicom-web/studies/{study}/series/x.y"), 400),
        (
            format!("/dicom-web/studies/{study}/series/{series}/instances/{long}"),
            400,
        ),
    ];
    for (path, status) in &cases {
        for suffix in ["", "/metadata"] {
            let response = get(&app, &format!("{path}{suffix}"), &[]).await;
            expect_error(response, *status, &format!("{path}{suffix}")).await;
        }
    }
    for (path, status) in [
        (
            format!(
                "/dicom-web/studies/{study}/series/{series}/instances/{unknown}/bulkdata/7FE00010"
            ),
            404,
        ),
        (
            format!("/dicom-web/studies/{study}/series/{series}/instances/1..2/bulkdata/7FE00010"),
            400,
        ),
    ] {
        let response = get(&app, &path, &[]).await;
        expect_error(response, status, &path).await;
    }
    let bulk =
        format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/bulkdata/7FE00010");
    let response = get(&app, &bulk, &[("accept", "application/dicom+json")]).await;
    expect_error(response, 406, "bulk as json").await;
}
