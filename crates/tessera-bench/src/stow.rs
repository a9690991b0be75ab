//! The STOW-RS grid: for each (instances per request, concurrency) cell, send a fixed number
//! of fresh instances with that many requests in flight and time every request.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};

use super::stats::{CellReport, Outcome};
use super::synth::Synth;
use super::{multipart, rss};
use crate::plan::Plan;

/// Longest error body kept for the report.
const ERROR_BODY_CHARS: usize = 400;

/// POST a multipart body to `endpoint`; `len` becomes Content-Length when known.
/// The latency runs from sending the first byte to the last byte of the answer.
pub async fn post<S>(
    client: &reqwest::Client,
    endpoint: &str,
    body: S,
    len: Option<u64>,
) -> (Duration, Option<String>)
where
    S: Stream<Item = Result<Bytes, io::Error>> + Send + Sync + 'static,
{
    let mut request = client
        .post(endpoint)
        .header(CONTENT_TYPE, multipart::content_type())
        .header(ACCEPT, "application/dicom+json");
    if let Some(len) = len {
        request = request.header(CONTENT_LENGTH, len);
    }
    let request = request.body(reqwest::Body::wrap_stream(body));
    let start = Instant::now();
    let error = match request.send().await {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(_) if status == reqwest::StatusCode::OK => None,
                Ok(body) => {
                    let text: String = String::from_utf8_lossy(&body)
                        .chars()
                        .take(ERROR_BODY_CHARS)
                        .collect();
                    Some(format!("HTTP {status}: {text}"))
                }
                Err(err) => Some(format!(
                    "HTTP {status}, reading the answer: {}",
                    chain(&err)
                )),
            }
        }
        Err(err) => Some(format!("request failed: {}", chain(&err))),
    };
    (start.elapsed(), error)
}

/// An error and its sources, e.g. "error sending request: connection refused".
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Every cell of the grid, in order; cells are numbered from 1 (part of their UIDs).
pub async fn run_grid(
    client: &reqwest::Client,
    plan: &Plan,
    synth: &Arc<Synth>,
) -> Vec<CellReport> {
    let mut cells = Vec::new();
    let mut cell = 0;
    for &batch in &plan.batches {
        for &concurrency in &plan.concurrencies {
            cell += 1;
            eprintln!("bench: batch {batch} x concurrency {concurrency} ...");
            cells.push(run_cell(client, plan, synth, cell, batch, concurrency).await);
        }
    }
    cells
}

async fn run_cell(
    client: &reqwest::Client,
    plan: &Plan,
    synth: &Arc<Synth>,
    cell: u32,
    batch: usize,
    concurrency: usize,
) -> CellReport {
    let total = plan.instances;
    let requests = total.div_ceil(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let endpoint: Arc<str> = format!("{}/studies", plan.url).into();
    let watch = plan.server_pid.and_then(rss::Watch::start);
    let client_before = rss::read(None);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(requests) {
        let (client, endpoint, synth, next) = (
            client.clone(),
            endpoint.clone(),
            synth.clone(),
            next.clone(),
        );
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let request = next.fetch_add(1, Ordering::Relaxed);
                if request >= requests {
                    break outcomes;
                }
                let first = request * batch;
                let range = first as u64..(first + batch).min(total) as u64;
                let instances = (range.end - range.start) as usize;
                let (latency, bytes, error) = match multipart::request(&synth, cell, range) {
                    Ok((chunks, len)) => {
                        let body = futures::stream::iter(chunks.into_iter().map(Ok));
                        let (latency, error) = post(&client, &endpoint, body, Some(len)).await;
                        (latency, len, error)
                    }
                    Err(err) => (Duration::ZERO, 0, Some(err)),
                };
                outcomes.push(Outcome {
                    latency,
                    instances,
                    bytes,
                    error,
                });
            }
        });
    }
    let mut outcomes = Vec::with_capacity(requests);
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    let client_cpu = rss::cpu_seconds(client_before, rss::read(None));
    let server = match watch {
        Some(watch) => watch.finish().await,
        None => None,
    };
    CellReport::new(batch, concurrency, &outcomes, elapsed, client_cpu, server)
}
