//! WADO-RS retrieve, metadata and bulk data (PS3.18 10.4) through HTTP against the real
//! application: bit-exact round trips of every test file, the default transfer syntax,
//! Accept negotiation, metadata from the index with ETags, gzip and XML, bulk data with
//! Range, and the error statuses. Expectations come from the files themselves and from
//! pydicom's reading of them (testdata/expected.json), not from the server's own code.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Instant;

use bytes::Bytes;
use dicom_core::header::Header;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use serde_json::Value;
use tessera::config::DuplicatePolicy;

use crate::helpers::*;
use crate::wado_support::*;

/// One `#[tokio::test]` per (test, backend pair).
macro_rules! wado_tests {
    ($($module:ident: $index:expr, $storage:expr => [$($test:ident),* $(,)?];)*) => {$(
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($index, $storage).await
                }
            )*
        }
    )*};
}

wado_tests! {
    sqlite_memory: IndexKind::Sqlite, StorageKind::Memory => [
        round_trip_bit_exact,
        default_transfer_syntax_is_explicit_little_endian,
        accept_negotiation,
        metadata_from_the_index,
        bulk_data_ranges_and_representations,
        errors,
        metadata_of_a_300_instance_series,
    ];
    postgres_memory: IndexKind::Postgres, StorageKind::Memory => [
        round_trip_bit_exact,
        default_transfer_syntax_is_explicit_little_endian,
        accept_negotiation,
        metadata_from_the_index,
        bulk_data_ranges_and_representations,
        errors,
    ];
    sqlite_local: IndexKind::Sqlite, StorageKind::Local => [
        round_trip_bit_exact,
        bulk_data_ranges_and_representations,
    ];
    sqlite_s3: IndexKind::Sqlite, StorageKind::S3 => [
        round_trip_bit_exact,
        bulk_data_ranges_and_representations,
    ];
}

const CT: &str = "CT_small.dcm";
const IMPLICIT: &str = "1.2.840.10008.1.2";
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";

fn exp(name: &str) -> Value {
    expected()[name].clone()
}

fn sop_of(exp: &Value) -> &str {
    exp["sop_instance_uid"].as_str().unwrap()
}

fn ts_of(exp: &Value) -> &str {
    exp["transfer_syntax_uid"].as_str().unwrap()
}

fn is_native(ts: &str) -> bool {
    [ELE, IMPLICIT, BIG_ENDIAN, DEFLATED].contains(&ts)
}

/// Whether the server is expected to decode this file's pixel data (codecs built in, 8 or
/// 16 bits allocated: dicom-pixeldata writes no other native depth).
fn decodable(exp: &Value) -> bool {
    let ts = ts_of(exp);
    if is_native(ts) || !exp["pixel_data"].is_object() {
        return true;
    }
    let mut decoders = vec![
        "1.2.840.10008.1.2.5",
        JPEG_BASELINE,
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
    ];
    if cfg!(feature = "jpeg-ls") {
        decoders.extend([JPEG_LS_LOSSLESS, "1.2.840.10008.1.2.4.81"]);
    }
    let bits = exp["bits_allocated"].as_u64();
    // jpeg-decoder reads 8-bit DCT only: no 12-bit JPEG Extended.
    if ts == "1.2.840.10008.1.2.4.51" && bits != Some(8) {
        return false;
    }
    decoders.contains(&ts) && matches!(bits, Some(8) | Some(16))
}

/// rows * columns * samples * bytes per sample * frames.
fn decoded_length(exp: &Value) -> usize {
    let n = |key: &str| exp[key].as_u64().unwrap_or(1) as usize;
    n("rows") * n("columns") * n("samples_per_pixel") * n("bits_allocated") / 8
        * n("number_of_frames")
}

/// Frame by frame, `pixels` hash to pydicom's frames of `exp` (a trailing pad byte allowed).
fn assert_frames(pixels: &[u8], exp: &Value, context: &str) {
    let frames = exp["pixel_data"]["frames"].as_array().unwrap();
    let mut at = 0;
    for (i, frame) in frames.iter().enumerate() {
        let len = frame["length"].as_u64().unwrap() as usize;
        assert!(at + len <= pixels.len(), "{context}: frame {i} missing");
        assert_eq!(
            sha256_hex(&pixels[at..at + len]),
            frame["sha256"].as_str().unwrap(),
            "{context}: frame {i}"
        );
        at += len;
    }
    assert!(
        pixels.len() - at <= 1,
        "{context}: {} extra bytes",
        pixels.len() - at
    );
}

pub async fn round_trip_bit_exact(index: IndexKind, storage: StorageKind) {
    // Several files share SOP Instance UIDs: each overwrites the last.
    let app = TestApp::spawn_with(index, storage, |s| {
        s.duplicate_policy = DuplicatePolicy::Overwrite
    })
    .await;
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

pub async fn default_transfer_syntax_is_explicit_little_endian(
    index: IndexKind,
    storage: StorageKind,
) {
    let app = TestApp::spawn_with(index, storage, |s| {
        s.duplicate_policy = DuplicatePolicy::Overwrite
    })
    .await;
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
        assert_eq!(parts[0].transfer_syntax().as_deref(), Some(ELE), "{name}");
        if stored_ts == ELE {
            assert!(
                parts[0].body == bytes,
                "{name}: ELE must be served as stored"
            );
        }
        let got = dicom(&parts[0].body, name);
        let original = dicom(&bytes, name);
        assert_eq!(got.meta().transfer_syntax(), ELE, "{name}");
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
        if stored_ts == DEFLATED {
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
                "1.2.840.10008.1.2.5",
                JPEG_LS_LOSSLESS,
                "1.2.840.10008.1.2.4.90",
            ]
            .contains(&stored_ts)
        {
            assert_frames(&pixels, &expected["MR_small.dcm"], name);
        }
    }
    assert_eq!(decoded, 12, "encapsulated files decoded");
    // rtdose_rle: 32-bit samples, which dicom-pixeldata cannot write natively, and
    // JPGExtended: 12-bit lossy JPEG (both refused from the index row);
    // JPEG2000-embedded-sequence-delimiter: dicom-rs cannot read fragments
    // holding a sequence delimiter's bytes (refused when decoding fails).
    assert_eq!(
        refused,
        vec![
            "JPEG2000-embedded-sequence-delimiter.dcm".to_string(),
            "JPGExtended.dcm".to_string(),
            "rtdose_rle.dcm".to_string()
        ]
    );
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

pub async fn accept_negotiation(index: IndexKind, storage: StorageKind) {
    let app = TestApp::spawn(index, storage).await;
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
        assert_eq!(parts[0].transfer_syntax().as_deref(), Some(ELE));
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
        ("1.2.840.10008.1.2.4.90", "no encoder"),
        (JPEG_BASELINE, "8 bit"),
        ("1.2.840.10008.1.2.5", "no encoder"),
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
            &format!("{DICOM_DEFAULT}; transfer-syntax={IMPLICIT}"),
        )],
        "application/dicom",
        "implicit",
    )
    .await;
    assert_eq!(parts[0].transfer_syntax().as_deref(), Some(IMPLICIT));
    let got = dicom(&parts[0].body, "implicit");
    assert_eq!(got.meta().transfer_syntax(), IMPLICIT);
    assert_frames(&binary(&got, tags::PIXEL_DATA).unwrap(), &ct, "implicit");
    // JPEG-LS lossless from native 16-bit: decodes back to the same pixels.
    let accept = format!("{DICOM_DEFAULT}; transfer-syntax={JPEG_LS_LOSSLESS}");
    let response = get(&app, &ct_path, &[("accept", &accept)]).await;
    if cfg!(feature = "jpeg-ls") {
        assert_eq!(response.status().as_u16(), 200);
        let ctype = content_type(&response);
        let body = response.bytes().await.unwrap();
        let parts = parse_multipart(&ctype, &body, "jpeg-ls");
        assert_eq!(
            parts[0].transfer_syntax().as_deref(),
            Some(JPEG_LS_LOSSLESS)
        );
        let object = dicom(&parts[0].body, "jpeg-ls");
        assert_eq!(object.meta().transfer_syntax(), JPEG_LS_LOSSLESS);
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
            &format!("{DICOM_DEFAULT}; transfer-syntax={JPEG_BASELINE}"),
        )],
        "application/dicom",
        "jpeg",
    )
    .await;
    assert_eq!(parts[0].transfer_syntax().as_deref(), Some(JPEG_BASELINE));
    let object = dicom(&parts[0].body, "jpeg");
    assert_eq!(object.meta().transfer_syntax(), JPEG_BASELINE);
    assert!(object
        .element(tags::PIXEL_DATA)
        .unwrap()
        .fragments()
        .is_some());

    // A study whose 16-bit CT cannot be JPEG Baseline: 406 for the whole request, decided
    // before anything is sent...
    let study_path = format!("/dicom-web/studies/{rgb_study}");
    let accept = format!("{DICOM_DEFAULT}; transfer-syntax={JPEG_BASELINE}");
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
        BTreeSet::from([ELE.to_string(), JPEG_BASELINE.to_string()])
    );
}

/// The stored metadata of an instance with its BulkDataURIs made absolute.
fn absolute(stored: &str, prefix: &str) -> Value {
    fn walk(value: &mut Value, prefix: &str) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(uri)) = map.get_mut("BulkDataURI") {
                    *uri = format!("{prefix}/{uri}");
                }
                map.values_mut().for_each(|v| walk(v, prefix));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, prefix)),
            _ => {}
        }
    }
    let mut value: Value = serde_json::from_str(stored).unwrap();
    walk(&mut value, prefix);
    value
}

/// The expected bytes behind a BulkDataURI path of an original file, read with dicom-object.
fn original_value(file: &[u8], path: &str, context: &str) -> Vec<u8> {
    let object = dicom(file, context);
    let parts: Vec<&str> = path.split('/').collect();
    let tag = |s: &str| {
        let n = u32::from_str_radix(s, 16).unwrap();
        Tag((n >> 16) as u16, n as u16)
    };
    let mut current: &dicom_object::InMemDicomObject = &object;
    for pair in parts[..parts.len() - 1].chunks(2) {
        let items = current.element(tag(pair[0])).unwrap().items().unwrap();
        current = &items[pair[1].parse::<usize>().unwrap()];
    }
    binary(current, tag(parts[parts.len() - 1]))
        .unwrap_or_else(|| panic!("{context}: {path} not binary"))
}

const METADATA_FILES: [&str; 10] = [
    CT,
    "waveform_ecg.dcm",
    "examples_palette.dcm",
    "test-SR.dcm",
    "liver_1frame.dcm",
    "rtdose.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "ExplVR_BigEnd.dcm",
    "examples_rgb_color.dcm",
    "examples_jpeg2k.dcm",
];

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

pub async fn metadata_from_the_index(index: IndexKind, storage: StorageKind) {
    let app = TestApp::spawn(index, storage).await;
    let expected = expected();
    let files: Vec<Bytes> = METADATA_FILES.iter().map(|n| read_testdata(n)).collect();
    let result = StowResult::from(app.stow(&files).await).await;
    assert_eq!(result.status, 200, "{}", result.body);
    let mut bulk_checked = 0;
    let mut nested_checked = 0;
    let mut by_series: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut by_study: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, file) in METADATA_FILES.iter().zip(&files) {
        let exp = &expected[*name];
        let path = instance_path(exp);
        let response = get(&app, &format!("{path}/metadata"), &[]).await;
        assert_eq!(response.status().as_u16(), 200, "{name}");
        assert_eq!(content_type(&response), "application/dicom+json");
        assert!(response.headers().get("etag").is_some());
        let got: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let items = got.as_array().unwrap();
        assert_eq!(items.len(), 1, "{name}");
        // Exactly what STOW indexed, with absolute BulkDataURIs.
        let row = app
            .state
            .index
            .instance(
                &tessera::dicom::uid::SopInstanceUid::parse(
                    exp["sop_instance_uid"].as_str().unwrap(),
                )
                .unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        let want = absolute(&row.metadata, &app.url(&path));
        assert_eq!(items[0], want, "{name}");
        assert_eq!(items[0]["00080018"]["Value"][0], exp["sop_instance_uid"]);
        by_series
            .entry(series_path(exp))
            .or_default()
            .push(want.clone());
        by_study
            .entry(study_path(exp))
            .or_default()
            .push(want.clone());

        // Every BulkDataURI resolves to the bytes of the file.
        let mut uris = Vec::new();
        bulk_data_uris(&items[0], &mut uris);
        if exp["pixel_data"].is_object() {
            assert!(
                uris.contains(&app.url(&format!("{path}/bulkdata/7FE00010"))),
                "{name}"
            );
        }
        for uri in uris {
            let relative = uri
                .strip_prefix(&app.url(&format!("{path}/bulkdata/")))
                .unwrap_or_else(|| panic!("{name}: {uri} is not under the instance"));
            let response = app.client.get(&uri).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{name}: {uri}");
            let ctype = content_type(&response);
            let body = response.bytes().await.unwrap();
            let parts = parse_multipart(&ctype, &body, &uri);
            assert_eq!(parts.len(), 1);
            assert!(parts[0]
                .content_type
                .starts_with("application/octet-stream"));
            let value = &parts[0].body;
            let stored_ts = ts_of(exp);
            if relative == "7FE00010" {
                if is_native(stored_ts) && stored_ts != BIG_ENDIAN {
                    assert_frames(value, exp, name);
                } else if is_native(stored_ts) {
                    let want = native_pixels_little_endian(file, exp);
                    assert!(value[..] == want[..], "{name}: swapped pixels");
                } else {
                    // Encapsulated, default syntax: decoded.
                    assert_eq!(value.len(), decoded_length(exp), "{name}: decoded");
                    if *name == "MR_small_jpeg_ls_lossless.dcm" && cfg!(feature = "jpeg-ls") {
                        assert_frames(value, &expected["MR_small.dcm"], name);
                    }
                }
            } else {
                let want = original_value(file, relative, name);
                assert!(value[..] == want[..], "{name}: {relative}");
                nested_checked += usize::from(relative.contains('/'));
            }
            bulk_checked += 1;
        }
    }
    assert!(
        bulk_checked >= 11,
        "{bulk_checked} bulk data values checked"
    );
    assert!(nested_checked >= 1, "no nested bulk data checked");
    // Series and study documents: the instances' documents, all of them.
    for (path, want) in by_series.iter().chain(&by_study) {
        let response = get(&app, &format!("{path}/metadata"), &[]).await;
        let got: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{path}");
        for doc in want {
            assert!(got.contains(doc), "{path}: a document differs");
        }
    }

    // ETag and If-None-Match.
    let ct = exp(CT);
    let series_meta = format!("{}/metadata", series_path(&ct));
    let response = get(&app, &series_meta, &[]).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let response = get(&app, &series_meta, &[("if-none-match", &tag)]).await;
        assert_eq!(response.status().as_u16(), 304, "{tag}");
        assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let response = get(&app, &series_meta, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(response.status().as_u16(), 200);
    // The instance level has its own ETag, also honoured.
    let instance_meta = format!("{}/metadata", instance_path(&ct));
    let instance_etag = get(&app, &instance_meta, &[]).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(instance_etag, etag);
    let response = get(&app, &instance_meta, &[("if-none-match", &instance_etag)]).await;
    assert_eq!(response.status().as_u16(), 304);
    // A new instance in the series changes the ETag.
    assert_eq!(app.stow_one(&crate::suite::ct_variant(7)).await.status, 200);
    let response = get(&app, &series_meta, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);
    let got: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(got.as_array().unwrap().len(), 2);

    // gzip for JSON and XML, never for instances or bulk data.
    let plain = get(&app, &series_meta, &[]).await.bytes().await.unwrap();
    let response = get(&app, &series_meta, &[("accept-encoding", "gzip")]).await;
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let zipped = response.bytes().await.unwrap();
    assert!(
        zipped.len() < plain.len() / 3,
        "{} vs {}",
        zipped.len(),
        plain.len()
    );
    assert_eq!(gunzip(&zipped), plain.to_vec());
    for (path, accept) in [
        (instance_path(&ct), DICOM_ANY),
        (format!("{}/bulkdata/7FE00010", instance_path(&ct)), "*/*"),
    ] {
        let response = get(
            &app,
            &path,
            &[("accept", accept), ("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{path}"
        );
    }
    // application/json when that is what the client accepts.
    let response = get(&app, &series_meta, &[("accept", "application/json")]).await;
    assert_eq!(content_type(&response), "application/json");

    // XML: one Native DICOM Model part per instance, gzipped on request.
    let parts = get_parts(
        &app,
        &series_meta,
        &[("accept", "application/dicom+xml")],
        "application/dicom+xml",
        "xml",
    )
    .await;
    assert_eq!(parts.len(), 2);
    let xml: Vec<String> = parts
        .iter()
        .map(|p| String::from_utf8(p.body.to_vec()).unwrap())
        .collect();
    assert!(
        xml.iter().all(|x| x.contains("<NativeDicomModel")),
        "{xml:?}"
    );
    let ct_bulk = format!(
        "<BulkData uri=\"{}/bulkdata/7FE00010\"/>",
        app.url(&instance_path(&ct))
    );
    assert!(xml.iter().any(|x| x.contains(&ct_bulk)), "{xml:?}");
    assert!(xml.iter().any(|x| x.contains(sop_of(&ct))), "{xml:?}");
    let response = get(
        &app,
        &series_meta,
        &[
            (
                "accept",
                "multipart/related; type=\"application/dicom+xml\"",
            ),
            ("accept-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let response = get(&app, &series_meta, &[("accept", "image/png")]).await;
    expect_error(response, 406, "metadata as png").await;
}

/// The item-encoded value of encapsulated Pixel Data as the file holds it (found by its
/// header bytes, not by the server's layout code), and what follows it.
fn encapsulated_value(file: &[u8]) -> (&[u8], &[u8]) {
    let header = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff";
    let at = file
        .windows(header.len())
        .rposition(|w| w == header)
        .unwrap()
        + header.len();
    let delimiter = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00";
    let end = file.len()
        - file
            .windows(delimiter.len())
            .rev()
            .position(|w| w == delimiter)
            .unwrap()
        - delimiter.len();
    (&file[at..end], &file[end..])
}

pub async fn bulk_data_ranges_and_representations(index: IndexKind, storage: StorageKind) {
    let app = TestApp::spawn(index, storage).await;
    let names = [
        CT,
        "JPEG2000.dcm",
        "rtdose_expb.dcm",
        "SC_rgb_small_odd_big_endian.dcm",
        "ExplVR_BigEnd.dcm",
    ];
    let files: Vec<Bytes> = names.iter().map(|n| read_testdata(n)).collect();
    let result = StowResult::from(app.stow(&files).await).await;
    assert_eq!(result.status, 200, "{}", result.body);
    let expected = expected();

    // Single part, whole and in ranges.
    let ct = &expected[CT];
    let pixels = format!("{}/bulkdata/7FE00010", instance_path(ct));
    let whole = native_pixels_little_endian(&files[0], ct);
    let n = whole.len();
    let single = [("accept", "application/octet-stream")];
    let response = get(&app, &pixels, &single).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(
        content_type(&response),
        format!("application/octet-stream; transfer-syntax={ELE}")
    );
    assert!(response.bytes().await.unwrap() == whole);
    for (range, slice) in [
        ("bytes=100-199", 100..200),
        ("bytes=-10", n - 10..n),
        (&format!("bytes={}-", n - 8) as &str, n - 8..n),
        ("bytes=0-0", 0..1),
        (&format!("bytes=10-{}", n + 500) as &str, 10..n),
    ] {
        let response = get(&app, &pixels, &[single[0], ("range", range)]).await;
        assert_eq!(response.status().as_u16(), 206, "{range}");
        assert_eq!(
            response.headers()["content-range"].to_str().unwrap(),
            format!("bytes {}-{}/{n}", slice.start, slice.end - 1),
            "{range}"
        );
        let body = response.bytes().await.unwrap();
        assert!(body[..] == whole[slice.clone()], "{range}");
    }
    for range in [
        format!("bytes={n}-"),
        format!("bytes={}-{}", n + 1, n + 9),
        "bytes=-0".into(),
    ] {
        let response = get(&app, &pixels, &[single[0], ("range", &range)]).await;
        assert_eq!(
            response.headers()["content-range"].to_str().unwrap(),
            format!("bytes */{n}")
        );
        expect_error(response, 416, &range).await;
    }
    // Several ranges, or Range on the multipart form: the whole value.
    let response = get(&app, &pixels, &[single[0], ("range", "bytes=0-1,5-6")]).await;
    assert_eq!(response.status().as_u16(), 200);
    let parts = get_parts(
        &app,
        &pixels,
        &[("range", "bytes=0-9")],
        "application/octet-stream",
        "multipart range",
    )
    .await;
    assert!(parts[0].body == whole);

    // Encapsulated Pixel Data: as stored, the item-encoded value; by default, decoded.
    let j2k = &expected["JPEG2000.dcm"];
    let j2k_pixels = format!("{}/bulkdata/7FE00010", instance_path(j2k));
    let (value, after) = encapsulated_value(&files[1]);
    for ts in ["*", ts_of(j2k)] {
        let accept =
            format!("multipart/related; type=\"application/octet-stream\"; transfer-syntax={ts}");
        let parts = get_parts(
            &app,
            &j2k_pixels,
            &[("accept", &accept)],
            "application/octet-stream",
            ts,
        )
        .await;
        assert_eq!(parts[0].transfer_syntax().as_deref(), Some(ts_of(j2k)));
        assert!(parts[0].body[..] == value[..], "{ts}: not the stored value");
        assert!(parts[0].body.starts_with(b"\xfe\xff\x00\xe0"));
        assert!(after.starts_with(b"\xfe\xff\xdd\xe0"));
    }
    let parts = get_parts(
        &app,
        &j2k_pixels,
        &[],
        "application/octet-stream",
        "j2k decoded",
    )
    .await;
    assert_eq!(parts[0].transfer_syntax().as_deref(), Some(ELE));
    assert_eq!(parts[0].body.len(), decoded_length(j2k));
    let response = get(
        &app,
        &j2k_pixels,
        &[(
            "accept",
            &format!("application/octet-stream; transfer-syntax={JPEG_BASELINE}"),
        )],
    )
    .await;
    expect_error(response, 406, "bulk data as another compressed syntax").await;

    // Big endian: little endian by default, the stored bytes on request.
    for (name, native_twin) in [
        ("rtdose_expb.dcm", "rtdose.dcm"),
        ("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd.dcm"),
    ] {
        let exp = &expected[name];
        let file = &files[names.iter().position(|n| *n == name).unwrap()];
        let path = format!("{}/bulkdata/7FE00010", instance_path(exp));
        let parts = get_parts(&app, &path, &[], "application/octet-stream", name).await;
        assert_frames(&parts[0].body, &expected[native_twin], name);
        let parts = get_parts(
            &app,
            &path,
            &[(
                "accept",
                "multipart/related; type=application/octet-stream; transfer-syntax=*",
            )],
            "application/octet-stream",
            name,
        )
        .await;
        let offset = exp["pixel_data_value_offset"].as_u64().unwrap() as usize;
        assert!(
            parts[0].body[..] == file[offset..offset + parts[0].body.len()],
            "{name}: as stored"
        );
        assert_eq!(parts[0].transfer_syntax().as_deref(), Some(BIG_ENDIAN));
    }

    // Paths that the metadata does not hand out.
    let base = instance_path(ct);
    for path in [
        "00100010",
        "7FE00011",
        "zz",
        "7FE00010/0/00100010",
        "00540016/0/00181072",
    ] {
        let response = get(&app, &format!("{base}/bulkdata/{path}"), &[]).await;
        expect_error(response, 404, path).await;
    }
}

pub async fn errors(index: IndexKind, storage: StorageKind) {
    let app = TestApp::spawn(index, storage).await;
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

/// Assembly speed of a large series' metadata (printed; the bound is loose for debug builds
/// on a shared 2-core machine).
pub async fn metadata_of_a_300_instance_series(index: IndexKind, storage: StorageKind) {
    let app = TestApp::spawn(index, storage).await;
    for batch in 0..6 {
        let parts: Vec<Bytes> = (0..50)
            .map(|i| crate::suite::ct_variant(batch * 50 + i))
            .collect();
        assert_eq!(StowResult::from(app.stow(&parts).await).await.status, 200);
    }
    let path = format!("{}/metadata", series_path(&exp(CT)));
    let started = Instant::now();
    let response = get(&app, &path, &[]).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body = response.bytes().await.unwrap();
    let cold = started.elapsed();
    let docs: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 300);
    let started = Instant::now();
    let warm_body = get(&app, &path, &[]).await.bytes().await.unwrap();
    let warm = started.elapsed();
    assert!(warm_body == body);
    let started = Instant::now();
    assert_eq!(
        get(&app, &path, &[("if-none-match", &etag)])
            .await
            .status()
            .as_u16(),
        304
    );
    let not_modified = started.elapsed();
    let started = Instant::now();
    let parts = get_parts(
        &app,
        &series_path(&exp(CT)),
        &[("accept", DICOM_ANY)],
        "application/dicom",
        "300",
    )
    .await;
    let retrieve = started.elapsed();
    assert_eq!(parts.len(), 300);
    eprintln!(
        "300-instance series ({} KB of JSON): metadata cold {cold:?}, cached {warm:?}, 304 {not_modified:?}; retrieve {} MB in {retrieve:?}",
        body.len() / 1024,
        parts.iter().map(|p| p.body.len()).sum::<usize>() / 1_000_000
    );
    assert!(cold.as_secs() < 5 && warm < cold * 2);
}
