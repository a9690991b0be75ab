//! Shared by the frames and rendered tests: pydicom's decoded frames (the reference, made by
//! tests/support/pydicom_frames.py once per test run), a strict multipart/related parser, paths
//! and metrics of a running app.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::Value;

use crate::helpers::*;

/// One part of a multipart/related body.
#[derive(Debug)]
pub struct Part {
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The boundary of a multipart/related Content-Type, checking its `type` parameter.
pub fn boundary_of(content_type: &str, payload_type: &str) -> String {
    assert!(
        content_type.starts_with("multipart/related"),
        "not multipart/related: {content_type}"
    );
    let mut boundary = None;
    let mut kind = None;
    for param in content_type.split(';').skip(1) {
        let (name, value) = param.split_once('=').expect("parameter without =");
        let value = value.trim().trim_matches('"').to_string();
        match name.trim() {
            "boundary" => boundary = Some(value),
            "type" => kind = Some(value),
            _ => {}
        }
    }
    assert_eq!(kind.as_deref(), Some(payload_type), "{content_type}");
    boundary.expect("no boundary")
}

/// Parse a multipart/related body strictly: every delimiter is `CRLF--boundary`, the body
/// opens with `--boundary CRLF` and closes with `--boundary--`, each part has headers, a
/// blank line and a payload whose Content-Length (when given) is right.
pub fn parse_multipart(content_type: &str, payload_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = boundary_of(content_type, payload_type);
    let open = format!("--{boundary}\r\n");
    let close = format!("\r\n--{boundary}--");
    assert!(
        body.starts_with(open.as_bytes()),
        "body does not open with the boundary"
    );
    let end = find(body, close.as_bytes()).expect("no closing delimiter");
    assert!(
        matches!(&body[end + close.len()..], b"" | b"\r\n"),
        "junk after the closing delimiter"
    );
    let inner = &body[open.len()..end];
    let delimiter = format!("\r\n--{boundary}\r\n");
    let mut parts = Vec::new();
    let mut rest = inner;
    loop {
        let (part, next) = match find(rest, delimiter.as_bytes()) {
            Some(at) => (&rest[..at], Some(&rest[at + delimiter.len()..])),
            None => (rest, None),
        };
        let split = find(part, b"\r\n\r\n").expect("part without a blank line after headers");
        let header_text = std::str::from_utf8(&part[..split]).expect("headers are not text");
        let headers: Vec<(String, String)> = header_text
            .split("\r\n")
            .map(|line| {
                let (name, value) = line.split_once(':').expect("malformed header");
                (name.trim().to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        let payload = Bytes::copy_from_slice(&part[split + 4..]);
        let content_type = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.clone())
            .expect("part without Content-Type");
        if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
            assert_eq!(length.parse::<usize>().unwrap(), payload.len());
        }
        parts.push(Part {
            content_type,
            headers,
            body: payload,
        });
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `/dicom-web/studies/{s}/series/{se}/instances/{i}` of a testdata file.
pub fn instance_path(name: &str) -> String {
    let e = &expected()[name];
    format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        e["study_instance_uid"].as_str().unwrap(),
        e["series_instance_uid"].as_str().unwrap(),
        e["sop_instance_uid"].as_str().unwrap()
    )
}

/// Testdata files with Pixel Data, by name.
pub fn files_with_pixels() -> Vec<String> {
    expected()
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, e)| e.get("pixel_data").is_some_and(|p| !p.is_null()))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A GET with an optional Accept header.
pub async fn get(app: &TestApp, path: &str, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
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

/// Store one testdata file; it must be stored.
pub async fn store(app: &TestApp, name: &str) {
    let result = app.stow_one(&read_testdata(name)).await;
    assert!(
        result.status == 200,
        "{name}: STOW {} {:?}",
        result.status,
        result.warning
    );
}

/// The counters of `GET /metrics`, by series (name with labels).
pub async fn metrics(app: &TestApp) -> HashMap<String, f64> {
    let response = get(app, "/metrics", None).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse::<f64>().unwrap())
        })
        .collect()
}

/// pydicom's decoding of every testdata file with pixel data.
pub struct Reference {
    dir: PathBuf,
    index: Value,
}

impl Reference {
    /// Shape, dtype and frame count, or the error pydicom raised.
    pub fn entry(&self, name: &str) -> &Value {
        &self.index[name]
    }

    /// Frame `n` (1-based): samples interleaved, little endian.
    pub fn frame(&self, name: &str, n: u32) -> Vec<u8> {
        std::fs::read(self.dir.join(format!("{name}.{n}.raw")))
            .unwrap_or_else(|e| panic!("{name} frame {n}: {e}"))
    }

    /// Frame `n` of a PALETTE COLOR file with its palette applied (8-bit RGB).
    pub fn palette_rgb(&self, name: &str, n: u32) -> Vec<u8> {
        std::fs::read(self.dir.join(format!("{name}.{n}.rgb.raw"))).unwrap()
    }
}

/// Run tests/support/pydicom_frames.py once for the whole test binary.
pub fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let script = repo_root().join("tests/support/pydicom_frames.py");
        let files: Vec<PathBuf> = files_with_pixels().iter().map(|n| testdata(n)).collect();
        let output = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .args(&files)
            .output()
            .unwrap_or_else(|e| panic!("python3 could not run: {e}"));
        assert!(
            output.status.success(),
            "tests/support/pydicom_frames.py failed (pip install -r scripts/test/requirements.txt?): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
        Reference {
            index: serde_json::from_str(&index).unwrap(),
            dir,
        }
    })
}

/// Compare decoded samples: exact, or within a lossy codec's tolerance (largest difference
/// ≤ `max`, mean ≤ 0.5, and at most 0.01 % of samples more than 2 apart).
pub fn compare_samples(
    ours: &[i64],
    theirs: &[i64],
    lossy: Option<i64>,
    context: &str,
) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!(
            "{context}: {} samples, pydicom has {}",
            ours.len(),
            theirs.len()
        ));
    }
    let diffs: Vec<i64> = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let max = diffs.iter().copied().max().unwrap_or(0);
    let mean = diffs.iter().sum::<i64>() as f64 / diffs.len().max(1) as f64;
    let over_two = diffs.iter().filter(|&&d| d > 2).count();
    match lossy {
        None if max == 0 => Ok(()),
        None => Err(format!(
            "{context}: differs by up to {max} (lossless: exact expected)"
        )),
        Some(limit) if max <= limit && mean <= 0.5 && over_two * 10_000 <= diffs.len() => Ok(()),
        Some(_) => Err(format!(
            "{context}: max diff {max}, mean {mean:.3}, {over_two} samples over 2"
        )),
    }
}

/// Samples of little endian bytes of a numpy dtype name.
pub fn samples(bytes: &[u8], dtype: &str) -> Vec<i64> {
    match dtype {
        "uint8" => bytes.iter().map(|&b| i64::from(b)).collect(),
        "int8" => bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        "uint16" => bytes
            .chunks_exact(2)
            .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "int16" => bytes
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "uint32" => bytes
            .chunks_exact(4)
            .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        "int32" => bytes
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        other => panic!("dtype {other}"),
    }
}
