//! Running the query mix: per kind, a fixed number of GETs with N in flight, each checked
//! (HTTP 200 with a JSON array, the expected UID among exact-key results) and timed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::header::ACCEPT;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::qido_keys::Keys;
use super::qido_queries::{build, Kind, Query};
use super::rss::{self, ServerUsage};
use super::stats::{opt, percentile, usage_columns};
use super::stow::chain;

const ERROR_BODY_CHARS: usize = 400;
const TIMEOUT: Duration = Duration::from_secs(60);
/// Draws of a study before giving up on a kind (discovered studies may lack a key).
const DRAWS: u64 = 32;

#[derive(Debug, Clone, Serialize)]
pub struct QueryReport {
    pub query: &'static str,
    /// The first request, e.g. `/studies?PatientID=P0000412`.
    pub example: String,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_results: f64,
    pub first_error: Option<String>,
    pub client_cpu_s: Option<f64>,
    pub server: Option<ServerUsage>,
}

/// GET a QIDO URL: its latency (to the last byte) and its status and body, or why not.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> (
    Duration,
    Result<(reqwest::StatusCode, bytes::Bytes), String>,
) {
    let request = client
        .get(url)
        .header(ACCEPT, "application/dicom+json")
        .timeout(TIMEOUT);
    let start = Instant::now();
    let answer = match request.send().await {
        Ok(response) => {
            let status = response.status();
            response
                .bytes()
                .await
                .map(|body| (status, body))
                .map_err(|err| format!("reading the body: {}", chain(&err)))
        }
        Err(err) => Err(format!("request failed: {}", chain(&err))),
    };
    (start.elapsed(), answer)
}

/// The results of a QIDO answer, each left as its JSON text (checked to be JSON, not
/// parsed into values: on answers of hundreds of studies, parsing them cost the load
/// generator about as much CPU as the server spent answering). 204 No Content counts as zero
/// results (older editions of PS3.18 answer that way).
fn results(status: reqwest::StatusCode, body: &[u8]) -> Result<Vec<&RawValue>, String> {
    match status.as_u16() {
        200 => serde_json::from_slice::<Vec<&RawValue>>(body)
            .map_err(|err| format!("HTTP 200 but not a JSON array ({err}): {}", excerpt(body))),
        204 => Ok(Vec::new()),
        _ => Err(format!("HTTP {status}: {}", excerpt(body))),
    }
}

/// GET a QIDO URL: its latency (to the last byte) and its results, or what went wrong.
pub async fn get(client: &reqwest::Client, url: &str) -> (Duration, Result<Vec<Value>, String>) {
    let (latency, answer) = fetch(client, url).await;
    let result = answer.and_then(|(status, body)| {
        results(status, &body)?
            .into_iter()
            .map(|raw| serde_json::from_str(raw.get()).map_err(|err| err.to_string()))
            .collect()
    });
    (latency, result)
}

/// GET a QIDO URL and check its answer: its latency and how many results it had. Only an
/// answer that must hold a UID is parsed into values, to look for it.
async fn get_checked(
    client: &reqwest::Client,
    url: &str,
    expect: &Option<(&'static str, String)>,
) -> (Duration, Result<usize, String>) {
    let (latency, answer) = fetch(client, url).await;
    let result = answer.and_then(|(status, body)| {
        let raw = results(status, &body)?;
        if expect.is_some() {
            let items: Vec<Value> = raw
                .iter()
                .map(|r| serde_json::from_str(r.get()).map_err(|err| err.to_string()))
                .collect::<Result<_, _>>()?;
            check(&items, expect)?;
        }
        Ok(raw.len())
    });
    (latency, result)
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(ERROR_BODY_CHARS)
        .collect()
}

/// The string values of attribute `tag` (hex, e.g. `0020000D`) of one DICOM JSON object;
/// for PN, the Alphabetic group.
pub fn strings<'a>(item: &'a Value, tag: &str) -> Vec<&'a str> {
    let values = item
        .get(tag)
        .and_then(|a| a.get("Value"))
        .and_then(Value::as_array);
    values
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().or_else(|| v.get("Alphabetic")?.as_str()))
        .collect()
}

/// Whether the results hold the expected UID.
fn check(items: &[Value], expect: &Option<(&'static str, String)>) -> Result<(), String> {
    match expect {
        Some((tag, uid))
            if !items
                .iter()
                .any(|i| strings(i, tag).contains(&uid.as_str())) =>
        {
            Err(format!("{tag} {uid} not among the {} results", items.len()))
        }
        _ => Ok(()),
    }
}

/// Run every kind at every concurrency, in order.
pub async fn run_all(
    client: &reqwest::Client,
    url: &str,
    keys: &Arc<Keys>,
    queries: usize,
    concurrencies: &[usize],
    seed: u64,
    server_pid: Option<u32>,
) -> Vec<QueryReport> {
    let mut reports = Vec::new();
    for kind in Kind::ALL {
        for &concurrency in concurrencies {
            eprintln!("bench: {} x concurrency {concurrency} ...", kind.label());
            let report = run_kind(
                client,
                url,
                keys,
                kind,
                queries,
                concurrency,
                seed,
                server_pid,
            );
            reports.push(report.await);
        }
    }
    reports
}

/// The query request `index` of `kind` draws: the same for a seed, whatever the scheduling.
fn draw(kind: Kind, keys: &Keys, seed: u64, index: usize) -> Option<Query> {
    (0..DRAWS).find_map(|attempt| {
        let key = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((kind as u64) << 56);
        let mut rng = StdRng::seed_from_u64(key ^ ((index as u64) << 8) ^ attempt);
        build(kind, keys, &mut rng)
    })
}

#[allow(clippy::too_many_arguments)]
async fn run_kind(
    client: &reqwest::Client,
    url: &str,
    keys: &Arc<Keys>,
    kind: Kind,
    requests: usize,
    concurrency: usize,
    seed: u64,
    server_pid: Option<u32>,
) -> QueryReport {
    let example = draw(kind, keys, seed, 0).map(|q| q.path);
    let next = Arc::new(AtomicUsize::new(0));
    let watch = server_pid.and_then(rss::Watch::start);
    let client_before = rss::read(None);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    let runnable = if example.is_some() { requests } else { 0 };
    for _ in 0..concurrency.min(runnable) {
        let (client, keys, next) = (client.clone(), keys.clone(), next.clone());
        let base = url.to_string();
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= requests {
                    break outcomes;
                }
                let Some(query) = draw(kind, &keys, seed, index) else {
                    outcomes.push((Duration::ZERO, 0, Some("no query could be drawn".into())));
                    continue;
                };
                let url = format!("{base}{}", query.path);
                let (latency, result) = get_checked(&client, &url, &query.expect).await;
                let outcome = match result {
                    Ok(count) => (latency, count, None),
                    Err(err) => (latency, 0, Some(format!("{}: {err}", query.path))),
                };
                outcomes.push(outcome);
            }
        });
    }
    let mut outcomes = Vec::with_capacity(runnable);
    while let Some(joined) = workers.join_next().await {
        outcomes.extend(joined.unwrap_or_default());
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    let client_cpu_s = rss::cpu_seconds(client_before, rss::read(None));
    let server = match watch {
        Some(watch) => watch.finish().await,
        None => None,
    };
    let mut latencies: Vec<f64> = outcomes
        .iter()
        .map(|o| o.0.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let ok: Vec<usize> = outcomes
        .iter()
        .filter(|o| o.2.is_none())
        .map(|o| o.1)
        .collect();
    QueryReport {
        query: kind.label(),
        example: example.unwrap_or_else(|| "(skipped: no key for it)".into()),
        concurrency,
        requests: outcomes.len(),
        errors: outcomes.iter().filter(|o| o.2.is_some()).count(),
        seconds,
        requests_per_s: outcomes.len() as f64 / seconds,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        mean_results: ok.iter().sum::<usize>() as f64 / ok.len().max(1) as f64,
        first_error: outcomes.iter().find_map(|o| o.2.clone()),
        client_cpu_s,
        server,
    }
}

pub fn print(reports: &[QueryReport]) {
    let server = reports.iter().any(|r| r.server.is_some());
    let mut head = format!(
        "{:<18} {:>4} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "query", "conc", "reqs", "errs", "req/s", "p50 ms", "p99 ms", "max ms", "results", "cli s"
    );
    if server {
        head.push_str(&format!(
            " | {:>6} {:>5} {:>8} {:>8} {:>8} {:>8}",
            "srv s", "cpu%", "rss0 MB", "rss1 MB", "peak MB", "hwm MB"
        ));
    }
    println!("{head}");
    for r in reports {
        let mut line = format!(
            "{:<18} {:>4} {:>6} {:>5} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>6}",
            r.query,
            r.concurrency,
            r.requests,
            r.errors,
            r.requests_per_s,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.mean_results,
            opt(r.client_cpu_s)
        );
        if let Some(s) = &r.server {
            line.push_str(&usage_columns(s, r.seconds));
        }
        println!("{line}");
    }
    for r in reports {
        println!("  {:<18} e.g. {}", r.query, r.example);
    }
    for r in reports.iter().filter(|r| r.first_error.is_some()) {
        let err = r.first_error.as_deref().unwrap_or_default();
        println!(
            "first error ({}, concurrency {}): {err}",
            r.query, r.concurrency
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_expected_uids_in_dicom_json() {
        let items = vec![json!({
            "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Smith^Jo"}]},
            "00080061": {"vr": "CS", "Value": ["CT", "SR"]},
        })];
        assert!(check(&items, &Some(("0020000D", "1.2.3".into()))).is_ok());
        assert!(check(&items, &Some(("0020000D", "1.2.4".into()))).is_err());
        assert!(check(&[], &Some(("0020000D", "1.2.3".into()))).is_err());
        assert!(check(&items, &None).is_ok());
        assert_eq!(strings(&items[0], "00100010"), ["Smith^Jo"]);
        assert_eq!(strings(&items[0], "00080061"), ["CT", "SR"]);
        assert!(strings(&items[0], "00080050").is_empty());
    }
}
