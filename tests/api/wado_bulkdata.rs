//! WADO-RS bulk data (PS3.18 10.4.1.1.3) through HTTP: single part with Range (206, 416),
//! multipart, encapsulated Pixel Data as stored and decoded, big endian values, unknown paths.

use bytes::Bytes;
use dicom_dictionary_std::uids;

use crate::helpers::*;
use crate::wado_support::*;

backend_tests! {
    [sqlite_memory, postgres_memory, sqlite_local, sqlite_s3] => [
        bulk_data_ranges_and_representations,
    ];
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

pub async fn bulk_data_ranges_and_representations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
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
        format!(
            "application/octet-stream; transfer-syntax={}",
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        )
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
    assert_eq!(
        parts[0].transfer_syntax().as_deref(),
        Some(uids::EXPLICIT_VR_LITTLE_ENDIAN)
    );
    assert_eq!(parts[0].body.len(), decoded_length(j2k));
    let response = get(
        &app,
        &j2k_pixels,
        &[(
            "accept",
            &format!(
                "application/octet-stream; transfer-syntax={}",
                uids::JPEG_BASELINE8_BIT
            ),
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
        assert_eq!(
            parts[0].transfer_syntax().as_deref(),
            Some(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN)
        );
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
