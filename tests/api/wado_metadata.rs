//! WADO-RS metadata (PS3.18 10.4.1.1.2) through HTTP: documents equal to what STOW indexed,
//! every BulkDataURI resolving to the file's bytes, ETag and If-None-Match, gzip, XML, and the
//! assembly time of a large series.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Instant;

use bytes::Bytes;
use dicom_core::Tag;
use serde_json::Value;

use crate::helpers::*;
use crate::wado_support::*;

backend_tests! {
    [sqlite_memory] => [
        metadata_from_the_index,
        metadata_of_a_300_instance_series,
    ];
    [postgres_memory] => [metadata_from_the_index];
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

pub async fn metadata_from_the_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
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
        let stored = app
            .stored_metadata(
                exp["study_instance_uid"].as_str().unwrap(),
                exp["series_instance_uid"].as_str().unwrap(),
                exp["sop_instance_uid"].as_str().unwrap(),
            )
            .await;
        let want = absolute(&stored, &app.url(&path));
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
            if *name == "MR_small_jpeg_ls_lossless.dcm"
                && relative == "7FE00010"
                && !cfg!(feature = "jpeg-ls")
            {
                // Pixel data without a transfer syntax is decoded: no JPEG-LS decoder.
                assert_eq!(response.status().as_u16(), 406, "{name}: {uri}");
                continue;
            }
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
                if is_native(stored_ts) && stored_ts != tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN {
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
    // Without the jpeg-ls feature one pixel data value is refused (406) instead of checked.
    let want_checked = 10 + usize::from(cfg!(feature = "jpeg-ls"));
    assert!(
        bulk_checked >= want_checked,
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

/// Assembly speed of a large series' metadata (printed; the bound is loose for debug builds
/// on a shared 2-core machine).
pub async fn metadata_of_a_300_instance_series(backend: Backend) {
    let app = TestApp::spawn(backend).await;
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
