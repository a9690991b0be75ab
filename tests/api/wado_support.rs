//! Helpers for the WADO-RS tests: GET with headers, a multipart/related reader that checks
//! framing, DICOM parsing of returned parts and of the original files.

use bytes::Bytes;
use dicom_core::Tag;
use dicom_dictionary_std::uids;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use serde_json::Value;
use tessera::http::media::MediaType;

use crate::helpers::*;

pub const DICOM_ANY: &str = "multipart/related; type=\"application/dicom\"; transfer-syntax=*";
pub const DICOM_DEFAULT: &str = "multipart/related; type=\"application/dicom\"";

/// One part of a multipart/related body.
#[derive(Debug, Clone)]
pub struct Part {
    pub content_type: String,
    pub body: Bytes,
}

impl Part {
    /// The `transfer-syntax` parameter of the part's Content-Type.
    pub fn transfer_syntax(&self) -> Option<String> {
        MediaType::parse(&self.content_type)?
            .param("transfer-syntax")
            .map(str::to_string)
    }
}

pub async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Split a multipart/related body, asserting RFC 2046 framing and each part's
/// Content-Length.
pub fn parse_multipart(content_type: &str, body: &Bytes, context: &str) -> Vec<Part> {
    let media =
        MediaType::parse(content_type).unwrap_or_else(|| panic!("{context}: {content_type}"));
    assert_eq!(media.essence, "multipart/related", "{context}");
    let boundary = media.param("boundary").expect("boundary").to_string();
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut pos =
        find(body, delimiter.as_bytes(), 0).unwrap_or_else(|| panic!("{context}: no boundary"));
    assert_eq!(pos, 0, "{context}: preamble before the first boundary");
    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            assert_eq!(
                &body[pos..],
                b"--\r\n",
                "{context}: after the closing delimiter"
            );
            break;
        }
        assert_eq!(&body[pos..pos + 2], b"\r\n", "{context}");
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos).expect("part headers");
        let head = std::str::from_utf8(&body[pos..head_end]).unwrap();
        let mut part_type = String::new();
        let mut length = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').unwrap();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => part_type = value.trim().to_string(),
                "content-length" => length = Some(value.trim().parse::<usize>().unwrap()),
                _ => {}
            }
        }
        let start = head_end + 4;
        let end = match length {
            Some(length) => {
                assert!(
                    body[start + length..].starts_with(next_delimiter.as_bytes()),
                    "{context}: Content-Length does not end at a delimiter"
                );
                start + length
            }
            None => find(body, next_delimiter.as_bytes(), start).expect("next delimiter"),
        };
        parts.push(Part {
            content_type: part_type,
            body: body.slice(start..end),
        });
        pos = end + 2;
    }
    parts
}

/// GET, assert 200 and a multipart/related answer of `payload_type`, return its parts.
pub async fn get_parts(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    payload_type: &str,
    context: &str,
) -> Vec<Part> {
    let response = get(app, path, headers).await;
    let status = response.status().as_u16();
    let content_type = content_type(&response);
    let body = response.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "{context}: {path}: {}",
        String::from_utf8_lossy(&body[..body.len().min(400)])
    );
    let media = MediaType::parse(&content_type).unwrap();
    assert_eq!(
        media.param("type"),
        Some(payload_type),
        "{context}: {content_type}"
    );
    parse_multipart(&content_type, &body, context)
}

/// Assert an error answer: status and a JSON message.
pub async fn expect_error(response: reqwest::Response, status: u16, context: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "{context}");
    let body = response.bytes().await.unwrap();
    let json: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{context}: not JSON: {}", String::from_utf8_lossy(&body)));
    let message = json["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "{context}: {json}");
    message
}

/// Parse a Part 10 file (with or without preamble) with dicom-object, pixel data included.
pub fn dicom(bytes: &[u8], context: &str) -> DefaultDicomObject {
    let start = if bytes.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(&bytes[start..])
        .unwrap_or_else(|e| panic!("{context}: not parseable: {e}"))
}

/// The bytes of a binary element, little endian.
pub fn binary(object: &InMemDicomObject, tag: Tag) -> Option<Vec<u8>> {
    let element = object.element(tag).ok()?;
    tessera::retrieve::values::primitive_bytes(element.value().primitive()?, false)
}

pub fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    Some(
        object
            .element(tag)
            .ok()?
            .to_str()
            .ok()?
            .trim_end_matches([' ', '\0'])
            .to_string(),
    )
}

pub fn instance_path(exp: &Value) -> String {
    format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        exp["study_instance_uid"].as_str().unwrap(),
        exp["series_instance_uid"].as_str().unwrap(),
        exp["sop_instance_uid"].as_str().unwrap()
    )
}

pub fn series_path(exp: &Value) -> String {
    format!(
        "/dicom-web/studies/{}/series/{}",
        exp["study_instance_uid"].as_str().unwrap(),
        exp["series_instance_uid"].as_str().unwrap()
    )
}

pub fn study_path(exp: &Value) -> String {
    format!(
        "/dicom-web/studies/{}",
        exp["study_instance_uid"].as_str().unwrap()
    )
}

/// Every BulkDataURI in a DICOM JSON value, depth first.
pub fn bulk_data_uris(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(uri) = map.get("BulkDataURI").and_then(Value::as_str) {
                out.push(uri.to_string());
            }
            for v in map.values() {
                bulk_data_uris(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| bulk_data_uris(v, out)),
        _ => {}
    }
}

/// The whole native Pixel Data value of a stored file, found at the offset pydicom reported
/// (expected.json) with the length in the element header just before it, made little endian
/// for big endian files (OW words; whole samples above 16 bits, as pydicom reads them).
pub fn native_pixels_little_endian(file: &[u8], exp: &Value) -> Vec<u8> {
    let offset = exp["pixel_data_value_offset"].as_u64().unwrap() as usize;
    let big = exp["transfer_syntax_uid"] == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN;
    let header: [u8; 4] = file[offset - 4..offset].try_into().unwrap();
    let length = if big {
        u32::from_be_bytes(header)
    } else {
        u32::from_le_bytes(header)
    } as usize;
    let mut raw = file[offset..offset + length].to_vec();
    if big && &file[offset - 8..offset - 6] == b"OW" {
        let bits = exp["bits_allocated"].as_u64().unwrap_or(16) as usize;
        let unit = (bits / 8).max(2);
        for chunk in raw.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
    raw
}

pub const CT: &str = "CT_small.dcm";

pub fn exp(name: &str) -> Value {
    expected()[name].clone()
}

pub fn sop_of(exp: &Value) -> &str {
    exp["sop_instance_uid"].as_str().unwrap()
}

pub fn ts_of(exp: &Value) -> &str {
    exp["transfer_syntax_uid"].as_str().unwrap()
}

pub fn is_native(ts: &str) -> bool {
    [
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
        tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN,
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    ]
    .contains(&ts)
}

/// Whether the server is expected to decode this file's pixel data (codecs built in, 8 or
/// 16 bits allocated: dicom-pixeldata writes no other native depth).
pub fn decodable(exp: &Value) -> bool {
    let ts = ts_of(exp);
    if is_native(ts) || !exp["pixel_data"].is_object() {
        return true;
    }
    let mut decoders = vec![
        uids::RLE_LOSSLESS,
        uids::JPEG_BASELINE8_BIT,
        uids::JPEG_EXTENDED12_BIT,
        uids::JPEG_LOSSLESS,
        uids::JPEG_LOSSLESS_SV1,
        uids::JPEG2000_LOSSLESS,
        uids::JPEG2000,
    ];
    if cfg!(feature = "jpeg-ls") {
        decoders.extend([uids::JPEGLS_LOSSLESS, uids::JPEGLS_NEAR_LOSSLESS]);
    }
    let bits = exp["bits_allocated"].as_u64();
    // jpeg-decoder reads 8-bit DCT only: no 12-bit JPEG Extended.
    if ts == uids::JPEG_EXTENDED12_BIT && bits != Some(8) {
        return false;
    }
    decoders.contains(&ts) && matches!(bits, Some(8) | Some(16))
}

/// rows * columns * samples * bytes per sample * frames.
pub fn decoded_length(exp: &Value) -> usize {
    let n = |key: &str| exp[key].as_u64().unwrap_or(1) as usize;
    n("rows") * n("columns") * n("samples_per_pixel") * n("bits_allocated") / 8
        * n("number_of_frames")
}

/// Frame by frame, `pixels` hash to pydicom's frames of `exp` (a trailing pad byte allowed).
pub fn assert_frames(pixels: &[u8], exp: &Value, context: &str) {
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
