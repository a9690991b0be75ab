//! Populating an archive for the QIDO workload: every corpus instance through STOW-RS, 200
//! per request, four requests in flight, timed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use super::qido_synth::Corpus;
use super::rss::{self, ServerUsage};
use super::stats::{percentile, MIB};
use super::{multipart, qido_part10, stow};

pub const BATCH: u64 = 200;
pub const CONCURRENCY: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct PopulateReport {
    pub uid_root: String,
    pub instances: u64,
    pub series: usize,
    pub studies: usize,
    pub patients: usize,
    pub requests: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub instances_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
    pub first_error: Option<String>,
    pub client_cpu_s: Option<f64>,
    pub server: Option<ServerUsage>,
}

/// A whole STOW body for instances `range` of the corpus.
pub fn body(corpus: &Corpus, range: std::ops::Range<u64>) -> Bytes {
    let mut out = Vec::with_capacity(900 * (range.end - range.start) as usize);
    let first = range.start;
    for index in range {
        out.extend_from_slice(multipart::lead(index == first).as_bytes());
        out.extend_from_slice(&qido_part10::instance(corpus, index));
    }
    out.extend_from_slice(&multipart::closing());
    Bytes::from(out)
}

pub async fn run(
    client: &reqwest::Client,
    url: &str,
    corpus: &Arc<Corpus>,
    server_pid: Option<u32>,
) -> PopulateReport {
    let total = corpus.instances;
    let requests = total.div_ceil(BATCH) as usize;
    let endpoint: Arc<str> = format!("{url}/studies").into();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let watch = server_pid.and_then(rss::Watch::start);
    let client_before = rss::read(None);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY.min(requests) {
        let (client, endpoint, corpus) = (client.clone(), endpoint.clone(), corpus.clone());
        let (next, done) = (next.clone(), done.clone());
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let request = next.fetch_add(1, Ordering::Relaxed);
                let first = request * BATCH;
                if first >= total {
                    break outcomes;
                }
                let count = BATCH.min(total - first);
                let body = body(&corpus, first..first + count);
                let len = body.len() as u64;
                let stream = futures::stream::iter(std::iter::once(Ok(body)));
                let (latency, error) = stow::post(&client, &endpoint, stream, Some(len)).await;
                let before = done.fetch_add(count, Ordering::Relaxed);
                if (before + count) * 10 / total > before * 10 / total {
                    let secs = start.elapsed().as_secs_f64();
                    eprintln!(
                        "bench: populated {} of {total} ({secs:.0} s)",
                        before + count
                    );
                }
                outcomes.push((latency.as_secs_f64() * 1000.0, len, error));
            }
        });
    }
    let mut outcomes = Vec::with_capacity(requests);
    while let Some(joined) = workers.join_next().await {
        outcomes.extend(joined.unwrap_or_default());
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let client_cpu_s = rss::cpu_seconds(client_before, rss::read(None));
    let server = match watch {
        Some(watch) => watch.finish().await,
        None => None,
    };
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.0).collect();
    latencies.sort_by(f64::total_cmp);
    let bytes = outcomes.iter().map(|o| o.1).sum::<u64>();
    PopulateReport {
        uid_root: corpus.uid_root.clone(),
        instances: total,
        series: corpus.series.len(),
        studies: corpus.studies.len(),
        patients: corpus.patients.len(),
        requests: outcomes.len(),
        bytes,
        seconds,
        instances_per_s: total as f64 / seconds,
        mb_per_s: bytes as f64 / MIB / seconds,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        errors: outcomes.iter().filter(|o| o.2.is_some()).count(),
        first_error: outcomes.iter().find_map(|o| o.2.clone()),
        client_cpu_s,
        server,
    }
}

pub fn print(r: &PopulateReport) {
    println!(
        "populate: {} instances ({} series, {} studies, {} patients) in {} requests of {BATCH} x {CONCURRENCY} in flight: {:.2} s = {:.0} instances/s, {:.2} MB/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
        r.instances,
        r.series,
        r.studies,
        r.patients,
        r.requests,
        r.seconds,
        r.instances_per_s,
        r.mb_per_s,
        r.p50_ms,
        r.p99_ms,
        r.errors
    );
    if let Some(s) = &r.server {
        println!(
            "  server: cpu {:.2} s ({:.0}%), RSS {:.1} -> {:.1} MB, sampled peak {:.1} MB",
            s.cpu_s,
            s.cpu_s / r.seconds.max(1e-9) * 100.0,
            s.rss_before_mb,
            s.rss_after_mb,
            s.rss_peak_mb
        );
    }
    if let Some(err) = &r.first_error {
        println!("  first error: {err}");
    }
}
