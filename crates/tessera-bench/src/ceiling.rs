//! This machine's ceilings, measured in the same run as the workload, so every figure can be
//! read as a fraction of what the hardware allows: sequential durable disk writes (the STOW
//! limit on local disk), and loopback HTTP through a trivial handler (requests/s of a tiny
//! answer, MB/s of 1 MiB answers) served by `tessera-bench --ceiling-serve` in its own process.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Write `megabytes` MiB in 512 KiB blocks to a file in `dir`, fdatasync, and return MiB/s.
pub fn disk_write_mib_s(dir: &Path, megabytes: u64) -> Result<f64, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("tessera-bench-ceiling-{}", std::process::id()));
    let block = vec![0x5au8; 512 * 1024];
    let started = Instant::now();
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&path)?;
        for _ in 0..megabytes * 2 {
            file.write_all(&block)?;
        }
        file.sync_data()
    })();
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(megabytes as f64 / seconds)
}

/// Size of a `GET /frame` answer: one 512x512 16-bit frame.
pub const FRAME_BYTES: usize = 512 * 512 * 2;
/// Frame-sized GETs in flight, as in the OHIF replay at its lower concurrency.
pub const FRAME_CONCURRENCY: usize = 25;

/// The boundary of the ceiling server's `/frames` answer.
const BOUNDARY: &str = "ceiling-boundary";

/// The trivial HTTP server the loopback ceiling is measured against: `GET /ok` answers
/// "ok", `GET /mib` 1 MiB and `GET /frame` 512 KiB of constant bytes, and `GET /frames`
/// those 512 KiB as the one part of a `multipart/related` answer, framed as a WADO-RS
/// frames answer (all prebuilt, shared, never copied). Runs until killed.
pub async fn serve(addr: std::net::SocketAddr) -> Result<(), String> {
    use axum::routing::get;
    let mib = bytes::Bytes::from(vec![0x5au8; 1 << 20]);
    let frame = mib.slice(..FRAME_BYTES);
    let multipart = bytes::Bytes::from(multipart_frame(&frame));
    let content_type =
        format!("multipart/related; type=\"application/octet-stream\"; boundary={BOUNDARY}");
    let app = axum::Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/mib", get(move || async move { mib.clone() }))
        .route("/frame", get(move || async move { frame.clone() }))
        .route(
            "/frames",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, content_type.clone())],
                    multipart.clone(),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    println!("ceiling server on http://{addr}");
    axum::serve(tessera::http::listener::no_delay(listener), app)
        .await
        .map_err(|e| format!("ceiling server: {e}"))
}

/// `frame` as the one part of a multipart/related body.
fn multipart_frame(frame: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        frame.len()
    )
    .into_bytes();
    body.extend_from_slice(frame);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Loopback HTTP through a trivial handler, with this bench as the client.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpCeiling {
    pub url: String,
    /// `GET /ok`, 8 in flight.
    pub small_req_per_s: f64,
    pub small_p50_ms: f64,
    /// `GET /mib`, 4 in flight.
    pub mib_mb_per_s: f64,
    /// `GET /frame` (512 KiB), 25 in flight: the most frames per second a server could
    /// deliver to this client (0 when the ceiling server has no `/frame`).
    #[serde(default)]
    pub frame_per_s: f64,
    /// `GET /frames`, 25 in flight: the same 512 KiB as a one-part multipart answer, read
    /// and compared byte for byte by the same code as Tessera's frames (0 when the ceiling
    /// server has no `/frames`). The like-for-like ceiling of the frames items.
    #[serde(default)]
    pub frame_part_per_s: f64,
    pub errors: usize,
}

/// Measure `requests` small GETs, `mib_requests` 1 MiB GETs and as many frame-sized GETs
/// against a `serve` server.
pub async fn http(
    client: &reqwest::Client,
    url: &str,
    requests: usize,
    mib_requests: usize,
) -> HttpCeiling {
    let (small_s, mut small, e1) = hammer(client, format!("{url}/ok"), requests, 8).await;
    let (mib_s, _, e2) = hammer(client, format!("{url}/mib"), mib_requests, 4).await;
    let (frame_s, _, e3) = hammer(
        client,
        format!("{url}/frame"),
        mib_requests,
        FRAME_CONCURRENCY,
    )
    .await;
    let frame_part_per_s = checked_frames(client, url, mib_requests).await;
    small.sort_by(f64::total_cmp);
    HttpCeiling {
        url: url.to_string(),
        small_req_per_s: requests as f64 / small_s.max(1e-9),
        small_p50_ms: super::stats::percentile(&small, 50.0),
        mib_mb_per_s: mib_requests as f64 / mib_s.max(1e-9),
        frame_per_s: mib_requests as f64 / frame_s.max(1e-9),
        frame_part_per_s,
        errors: e1 + e2 + e3,
    }
}

/// `count` GETs of `/frames`, 25 in flight, each answer's part compared with the frame the
/// server holds: frames/s, or 0 when any answer failed (an older ceiling server).
async fn checked_frames(client: &reqwest::Client, url: &str, count: usize) -> f64 {
    use super::wado_get::{load, Check, Job, FRAMES};
    let frame = bytes::Bytes::from(vec![0x5au8; FRAME_BYTES]);
    let job = Job {
        url: format!("{url}/frames"),
        accept: FRAMES,
        check: Check::Parts(vec![frame]),
    };
    let jobs = std::sync::Arc::new(vec![job; count]);
    let timeout = std::time::Duration::from_secs(60);
    let (row, _) = load(
        client,
        "ceiling frames",
        jobs,
        FRAME_CONCURRENCY,
        None,
        timeout,
    )
    .await;
    if row.errors > 0 {
        0.0
    } else {
        row.requests_per_s
    }
}

/// `count` GETs of `url`, `concurrency` in flight: (seconds, latencies in ms, errors).
async fn hammer(
    client: &reqwest::Client,
    url: String,
    count: usize,
    concurrency: usize,
) -> (f64, Vec<f64>, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        workers.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let start = Instant::now();
                let ok = match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
            (latencies, errors)
        });
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(done) = workers.join_next().await {
        let (l, e) = done.unwrap_or_default();
        latencies.extend(l);
        errors += e;
    }
    (started.elapsed().as_secs_f64(), latencies, errors)
}
