//! Timed, checked WADO GETs and a runner for a list of them with N in flight. Bodies are
//! read chunk by chunk: multipart answers go through the streaming part reader (and are
//! compared with the expected bytes), JSON is kept only to be parsed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use serde::Serialize;
use serde_json::Value;

use super::rss::{self, ServerUsage};
use super::stats::{percentile, MIB};
use super::stow::chain;
use super::wado_parts::{boundary, Reader};

pub const JSON: &str = "application/dicom+json";
pub const FRAMES: &str = "multipart/related; type=application/octet-stream; transfer-syntax=*";
pub const STUDY: &str = "multipart/related; type=\"application/dicom\"; transfer-syntax=*";
const ERROR_BODY_CHARS: usize = 300;
/// Largest body buffer reserved up front from Content-Length.
const KEEP_PRESIZE_MAX: u64 = 64 << 20;

/// What a GET must return to count as a success.
#[derive(Debug, Clone)]
pub enum Check {
    /// A DICOM JSON array, of exactly this many items when given; its values kept in
    /// [`Got::json`] when `keep`.
    Json { items: Option<usize>, keep: bool },
    /// `Accept-Encoding: gzip` sent: gzip bytes when the server says gzip, else a JSON array
    /// of this many items.
    Gzip(usize),
    /// multipart/related whose parts are exactly these bytes.
    Parts(Vec<Bytes>),
    /// multipart/related of this many parts whose bodies total this many bytes.
    Count { parts: usize, bytes: u64 },
}

#[derive(Debug, Clone)]
pub struct Job {
    pub url: String,
    pub accept: &'static str,
    pub check: Check,
}

/// What one GET came to.
#[derive(Debug, Default)]
pub struct Got {
    /// Until the last body byte.
    pub latency: Duration,
    /// Until the response headers arrived.
    pub first_byte: Duration,
    /// Body bytes as received (compressed when gzip).
    pub bytes: u64,
    pub gzip: bool,
    /// The JSON answer, for JSON checks.
    pub json: Option<Vec<Value>>,
    pub error: Option<String>,
}

pub async fn get(client: &reqwest::Client, job: &Job, timeout: Duration) -> Got {
    let mut request = client
        .get(&job.url)
        .header(ACCEPT, job.accept)
        .timeout(timeout);
    if matches!(job.check, Check::Gzip(_)) {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    let start = Instant::now();
    let mut got = Got::default();
    let result = fetch(request, &job.check, start, &mut got).await;
    if got.latency.is_zero() {
        got.latency = start.elapsed();
    }
    if let Err(err) = result {
        got.error = Some(err);
    }
    got
}

async fn fetch(
    request: reqwest::RequestBuilder,
    check: &Check,
    start: Instant,
    got: &mut Got,
) -> Result<(), String> {
    let mut response = request
        .send()
        .await
        .map_err(|err| format!("request failed: {}", chain(&err)))?;
    got.first_byte = start.elapsed();
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header(CONTENT_TYPE);
    got.gzip = header(CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
    let mut reader = match check {
        Check::Parts(_) | Check::Count { .. } if status == reqwest::StatusCode::OK => {
            let boundary = boundary(&content_type)
                .ok_or_else(|| format!("HTTP 200 but no boundary in {content_type:?}"))?;
            let expect = match check {
                Check::Parts(expect) => expect.clone(),
                _ => Vec::new(),
            };
            Some(Reader::new(&boundary, expect))
        }
        _ => None,
    };
    // Sized once from Content-Length (capped): growing by doubling copied a 700 KB metadata
    // answer several times over, into fresh pages, and made the client most of the first
    // metadata request's time.
    let mut kept = Vec::with_capacity(match reader {
        None => response.content_length().unwrap_or(0).min(KEEP_PRESIZE_MAX) as usize,
        Some(_) => 0,
    });
    loop {
        let chunk = response.chunk().await.map_err(|err| {
            format!(
                "HTTP {status}, reading the answer after {} bytes: {}",
                got.bytes,
                chain(&err)
            )
        })?;
        let Some(chunk) = chunk else { break };
        got.bytes += chunk.len() as u64;
        match &mut reader {
            Some(reader) => reader.feed(&chunk)?,
            None => kept.extend_from_slice(&chunk),
        }
    }
    // The latency ends at the last byte; checking the body is the client's own time.
    got.latency = start.elapsed();
    if status != reqwest::StatusCode::OK {
        let text: String = String::from_utf8_lossy(&kept)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        return Err(format!("HTTP {status}: {text}"));
    }
    match (check, reader) {
        (Check::Parts(expect), Some(reader)) => {
            let parts = reader.finish()?;
            if parts.len() != expect.len() {
                return Err(format!("{} parts, expected {}", parts.len(), expect.len()));
            }
            if let Some((i, part)) = parts.iter().enumerate().find(|(_, p)| p.differs) {
                return Err(format!(
                    "part {} differs from the stored frame ({} bytes, expected {})",
                    i + 1,
                    part.len,
                    expect[i].len()
                ));
            }
            Ok(())
        }
        (Check::Count { parts, bytes }, Some(reader)) => {
            let got_parts = reader.finish()?;
            let total: u64 = got_parts.iter().map(|p| p.len).sum();
            if got_parts.len() != *parts || total != *bytes {
                return Err(format!(
                    "{} parts of {total} bytes, expected {parts} parts of {bytes} bytes",
                    got_parts.len()
                ));
            }
            Ok(())
        }
        (Check::Gzip(_), _) if got.gzip => {
            if kept.starts_with(&[0x1f, 0x8b]) {
                Ok(())
            } else {
                Err("Content-Encoding: gzip but not gzip data".into())
            }
        }
        (Check::Json { items, keep: true }, _) => {
            let values = json_values(&kept)?;
            match items {
                Some(n) if values.len() != *n => {
                    Err(format!("{} JSON items, expected {n}", values.len()))
                }
                _ => {
                    got.json = Some(values);
                    Ok(())
                }
            }
        }
        (Check::Json { items, keep: false }, _) => count_items(&kept, *items),
        (Check::Gzip(items), _) => count_items(&kept, Some(*items)),
        _ => Err("internal: multipart check without a reader".into()),
    }
}

fn json_values(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err("HTTP 200 but not a JSON array".into()),
        Err(err) => Err(format!("HTTP 200 but not JSON: {err}")),
    }
}

/// Check a JSON array's length without building its values (cheap on the shared cores).
fn count_items(body: &[u8], items: Option<usize>) -> Result<(), String> {
    let array: Vec<serde::de::IgnoredAny> = serde_json::from_slice(body)
        .map_err(|err| format!("HTTP 200 but not a JSON array: {err}"))?;
    match items {
        Some(n) if array.len() != n => Err(format!("{} JSON items, expected {n}", array.len())),
        _ => Ok(()),
    }
}

/// One measured item of the WADO workload.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub item: String,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub mb_per_s: f64,
    /// Mean body bytes per answer as received (compressed when gzip).
    pub bytes_per_request: f64,
    /// Answers that came gzip-encoded.
    pub gzipped: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_byte_p50_ms: f64,
    pub first_error: Option<String>,
    pub client_cpu_s: Option<f64>,
    pub server: Option<ServerUsage>,
}

impl Row {
    pub fn new(item: &str, concurrency: usize, gots: &[Got], elapsed: Duration) -> Row {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut latencies: Vec<f64> = gots.iter().map(|g| ms(g.latency)).collect();
        latencies.sort_by(f64::total_cmp);
        let mut first: Vec<f64> = gots.iter().map(|g| ms(g.first_byte)).collect();
        first.sort_by(f64::total_cmp);
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let bytes: u64 = gots.iter().map(|g| g.bytes).sum();
        Row {
            item: item.to_string(),
            concurrency,
            requests: gots.len(),
            errors: gots.iter().filter(|g| g.error.is_some()).count(),
            seconds,
            requests_per_s: gots.len() as f64 / seconds,
            mb_per_s: bytes as f64 / MIB / seconds,
            bytes_per_request: bytes as f64 / gots.len().max(1) as f64,
            gzipped: gots.iter().filter(|g| g.gzip).count(),
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            max_ms: latencies.last().copied().unwrap_or(0.0),
            first_byte_p50_ms: percentile(&first, 50.0),
            first_error: gots.iter().find_map(|g| g.error.clone()),
            client_cpu_s: None,
            server: None,
        }
    }
}

/// Run `jobs` with `concurrency` in flight, in order of the list; the server (when given)
/// and this process are watched for CPU and memory.
pub async fn load(
    client: &reqwest::Client,
    item: &str,
    jobs: Arc<Vec<Job>>,
    concurrency: usize,
    server_pid: Option<u32>,
    timeout: Duration,
) -> (Row, Vec<Got>) {
    let watch = server_pid.and_then(rss::Watch::start);
    let client_before = rss::read(None);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, jobs.len().max(1)) {
        let (client, jobs, next) = (client.clone(), jobs.clone(), next.clone());
        workers.spawn(async move {
            let mut gots = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else {
                    break gots;
                };
                gots.push((i, get(&client, job, timeout).await));
            }
        });
    }
    let mut gots = Vec::with_capacity(jobs.len());
    while let Some(done) = workers.join_next().await {
        gots.extend(done.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    gots.sort_by_key(|(i, _)| *i);
    let gots: Vec<Got> = gots.into_iter().map(|(_, g)| g).collect();
    let mut row = Row::new(item, concurrency, &gots, elapsed);
    row.client_cpu_s = rss::cpu_seconds(client_before, rss::read(None));
    if let Some(watch) = watch {
        row.server = watch.finish().await;
    }
    (row, gots)
}
