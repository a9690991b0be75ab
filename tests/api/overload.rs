//! A thousand clients at once against a real `tessera serve` process (issue 17): every
//! connection is open at the same time, each mixes STOW, frame and QIDO requests; every
//! request is answered (success, or 503 with Retry-After when shed), every acknowledged
//! instance is stored, and the process's peak memory stays bounded. The peak is printed
//! (docs/robustness.md quotes it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::sync::Barrier;

use crate::processes::Node;
use crate::suite::{ct_variant, ct_variant_uid};

const CLIENTS: usize = 1000;
const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const CT_SERIES: &str = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";

/// A process's resident memory, current and peak, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A plain HTTP/1 connection to `addr`.
async fn connect(addr: &str) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

fn gauge(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_mixing_stow_frames_and_qido_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // Connections wait, idle, until all 1,000 are open: on a machine busy with the rest of
    // the suite that takes longer than the default header timeout, which would close them.
    let node = Node::start(
        dir.path(),
        &[("TESSERA_HTTP_HEADER_TIMEOUT", "300".to_string())],
    )
    .await;
    let seeded: Vec<_> = (0..10).map(ct_variant).collect();
    assert_eq!(node.stow(&seeded).await.status, 200);
    let pid = node.child.id();
    let (rss_before, _) = memory_kib(pid);

    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let go = Arc::new(Barrier::new(CLIENTS + 1));
    let stored = Arc::new(AtomicUsize::new(0));
    let shed = Arc::new(AtomicUsize::new(0));
    let addr = node.base.trim_start_matches("http://").to_string();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for client_no in 0..CLIENTS {
        let addr = addr.clone();
        let (barrier, go) = (Arc::clone(&barrier), Arc::clone(&go));
        let (stored, shed) = (Arc::clone(&stored), Arc::clone(&shed));
        tasks.push(tokio::spawn(async move {
            // One connection per client, open before anyone starts.
            // A connect the kernel dropped under the burst is tried again, as clients do.
            let mut connected = connect(&addr).await;
            for _ in 0..3 {
                if connected.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                connected = connect(&addr).await;
            }
            // Everyone reaches the barrier, so that a failure ends the test rather than hang it.
            barrier.wait().await;
            go.wait().await;
            let mut connection = connected.map_err(|e| format!("client {client_no}: {e}"))?;
            let n = 1000 + client_no as u32;
            let frame = format!(
                "/dicom-web/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{}/frames/1",
                ct_variant_uid(client_no as u32 % 10)
            );
            for step in 0..3 {
                let kind = (client_no + step) % 3;
                let (method, uri, body) = match kind {
                    0 => (
                        "POST",
                        "/dicom-web/studies".to_string(),
                        ct_variant(n * 3 + step as u32),
                    ),
                    1 => ("GET", frame.clone(), Bytes::new()),
                    _ => (
                        "GET",
                        "/dicom-web/studies?PatientName=*&limit=20".to_string(),
                        Bytes::new(),
                    ),
                };
                let mut request = Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("host", "tessera");
                request = match kind {
                    0 => request.header("content-type", "application/dicom"),
                    1 => request.header(
                        "accept",
                        "multipart/related; type=\"application/octet-stream\"",
                    ),
                    _ => request,
                };
                let request = request.body(Full::new(body)).unwrap();
                if connection.ready().await.is_err() {
                    // Lost (see above): open another, as a client would.
                    connection = connect(&addr)
                        .await
                        .map_err(|e| format!("client {client_no}: reconnecting: {e}"))?;
                }
                let response = connection
                    .send_request(request)
                    .await
                    .map_err(|e| format!("client {client_no} step {step}: {e}"))?;
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").cloned();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("client {client_no} step {step}: body: {e}"))?
                    .to_bytes();
                if status == 503 {
                    if retry_after.is_none() {
                        return Err(format!("client {client_no}: 503 without Retry-After"));
                    }
                    shed.fetch_add(1, Ordering::Relaxed);
                    // A shed upload's body was not read: the server closes that connection,
                    // and the client, as any would, opens another.
                    connection = connect(&addr)
                        .await
                        .map_err(|e| format!("client {client_no}: reconnecting: {e}"))?;
                    continue;
                }
                if status != 200 || body.is_empty() {
                    return Err(format!(
                        "client {client_no} step {step}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                if kind == 0 {
                    stored.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }));
    }
    barrier.wait().await;
    // Every client holds a connection now; the server takes them from its backlog. Under
    // a burst of 1,000 connects the kernel may drop a few (dropped SYNs, reset handshakes):
    // the test asks for 99% of them open at one moment, and every client served below.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut most_open = 0;
    loop {
        let metrics = reqwest::get(format!("{}/metrics", node.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // Less the connection of this request.
        let open = gauge(&metrics, "tessera_http_connections_open").saturating_sub(1);
        most_open = most_open.max(open);
        if open >= CLIENTS as u64 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        most_open * 100 >= CLIENTS as u64 * 99,
        "only {most_open} of {CLIENTS} connections open at once"
    );
    go.wait().await;
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(err) = task.await.unwrap() {
            failures.push(err);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed; the first: {}",
        failures.len(),
        failures[0]
    );
    let (rss_after, peak) = memory_kib(pid);
    let stored = stored.load(Ordering::Relaxed);
    let shed = shed.load(Ordering::Relaxed);
    // Every acknowledged instance is there, and only those.
    let studies: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!(
            "{}/dicom-web/studies?StudyInstanceUID={CT_STUDY}&includefield=00201208",
            node.base
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    let count = studies[0]["00201208"]["Value"][0].as_u64().unwrap();
    assert_eq!(count, 10 + stored as u64);
    println!(
        "overload: {CLIENTS} clients, {most_open} connections open at once, {} requests, \
         {stored} stored, {shed} shed; RSS {} MiB before, {} MiB after, peak {} MiB",
        CLIENTS * 3,
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    // Bounded: well under what 1,000 clients each holding a request and its answer could
    // take unbounded (the peak figure is in docs/robustness.md).
    assert!(peak < 1024 * 1024, "peak RSS {} MiB", peak / 1024);
    node.stop();
}
