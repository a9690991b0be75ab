//! `GET /metrics` after real traffic (issue 17): the latency histograms count exactly the
//! requests made per route family, the bytes in and out are those that crossed the wire, the
//! blob-store and index histograms count the calls the requests made, and the open
//! connections gauge follows a connection held open.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{multipart_body, Backend, TestApp};
use crate::synthetic::MultiFrame;
use crate::wado_support::parse_multipart;

const FRAMES_AS_STORED: &str =
    "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";

/// One scrape: every sample by its name with labels.
struct Scrape(HashMap<String, f64>);

impl Scrape {
    async fn of(app: &TestApp) -> Scrape {
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        Scrape(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(|l| {
                    let (name, value) = l.rsplit_once(' ').unwrap();
                    (name.to_string(), value.parse::<f64>().unwrap())
                })
                .collect(),
        )
    }

    fn get(&self, series: &str) -> f64 {
        *self
            .0
            .get(series)
            .unwrap_or_else(|| panic!("{series} missing from /metrics"))
    }

    fn requests(&self, family: &str) -> f64 {
        self.get(&format!(
            "tessera_http_request_duration_seconds_count{{family=\"{family}\"}}"
        ))
    }

    fn answered(&self, family: &str) -> f64 {
        ["2xx", "3xx", "4xx", "5xx"]
            .iter()
            .map(|class| {
                self.get(&format!(
                    "tessera_http_requests_total{{family=\"{family}\",status=\"{class}\"}}"
                ))
            })
            .sum()
    }

    fn bytes_in(&self, family: &str) -> f64 {
        self.get(&format!(
            "tessera_http_request_bytes_total{{family=\"{family}\"}}"
        ))
    }

    fn bytes_out(&self, family: &str) -> f64 {
        self.get(&format!(
            "tessera_http_response_bytes_total{{family=\"{family}\"}}"
        ))
    }

    fn blob(&self, op: &str) -> f64 {
        self.get(&format!(
            "tessera_blob_operation_duration_seconds_count{{operation=\"{op}\"}}"
        ))
    }

    fn index(&self, op: &str) -> f64 {
        self.get(&format!(
            "tessera_index_operation_duration_seconds_count{{operation=\"{op}\"}}"
        ))
    }
}

#[tokio::test]
async fn metrics_count_the_requests_bytes_and_store_calls_of_real_traffic() {
    let app = TestApp::spawn(Backend::SQLITE_LOCAL).await;
    let before = Scrape::of(&app).await;
    let mut scrapes = 1.0;

    // One STOW of a known number of bytes.
    let instance = MultiFrame::new(41, 64, 3);
    let boundary = "metrics-test-boundary";
    let body = multipart_body(boundary, std::slice::from_ref(&instance.file));
    let stow_bytes = body.len() as f64;
    let stow = app
        .client
        .post(app.url("/dicom-web/studies"))
        .header(
            "content-type",
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(stow.status(), 200);
    let stow_answer = stow.bytes().await.unwrap().len() as f64;

    // Three frame reads, each checked to the byte.
    let path = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        instance.study_uid, instance.series_uid, instance.sop_uid
    );
    let mut frame_answers = 0.0;
    for n in 1..=3 {
        let url = format!("{path}/frames/{n}");
        let response = app
            .client
            .get(app.url(&url))
            .header("accept", FRAMES_AS_STORED)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let body = response.bytes().await.unwrap();
        frame_answers += body.len() as f64;
        let parts = parse_multipart(&content_type, &body, &url);
        let frames: Vec<Bytes> = parts.into_iter().map(|p| p.body).collect();
        assert_eq!(frames, vec![instance.frame(n)], "{url}");
    }
    let frame_bytes = 3.0 * 64.0 * 64.0 * 2.0;

    // One QIDO.
    let qido = app
        .client
        .get(app.url(&format!(
            "/dicom-web/studies?StudyInstanceUID={}",
            instance.study_uid
        )))
        .header("accept", "application/dicom+json")
        .send()
        .await
        .unwrap();
    assert_eq!(qido.status(), 200);
    let qido_answer = qido.bytes().await.unwrap().len() as f64;

    // A request's latency is recorded once its answer's last byte is handed over: scrape
    // until the three families show their requests (at once, as a rule).
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let scrape = Scrape::of(&app).await;
        scrapes += 1.0;
        let done = scrape.requests("stow") - before.requests("stow") >= 1.0
            && scrape.requests("frames") - before.requests("frames") >= 3.0
            && scrape.requests("qido") - before.requests("qido") >= 1.0;
        if done || Instant::now() > deadline {
            break scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let delta = |f: &dyn Fn(&Scrape) -> f64| f(&after) - f(&before);

    // Latency histograms: exactly one observation per request, and as many as answered.
    for (family, n) in [("stow", 1.0), ("frames", 3.0), ("qido", 1.0)] {
        assert_eq!(delta(&|s| s.requests(family)), n, "{family} latency count");
        assert_eq!(delta(&|s| s.answered(family)), n, "{family} answered");
        let sum = format!("tessera_http_request_duration_seconds_sum{{family=\"{family}\"}}");
        assert!(delta(&|s| s.get(&sum)) > 0.0, "{sum}");
        let inf = format!(
            "tessera_http_request_duration_seconds_bucket{{family=\"{family}\",le=\"+Inf\"}}"
        );
        assert_eq!(delta(&|s| s.get(&inf)), n, "{inf}");
    }
    // Every scrape but the last is over (its own answer is being sent).
    assert_eq!(
        after.requests("metrics"),
        scrapes - 1.0,
        "metrics latency count"
    );
    assert_eq!(delta(&|s| s.requests("delete")), 0.0);

    // Bytes: the STOW body was read whole; the answers' bodies are what the client received
    // (no compression: this client does not ask for it).
    assert_eq!(delta(&|s| s.bytes_in("stow")), stow_bytes, "STOW bytes in");
    assert_eq!(delta(&|s| s.bytes_in("frames")), 0.0);
    assert_eq!(
        delta(&|s| s.bytes_out("stow")),
        stow_answer,
        "STOW bytes out"
    );
    assert_eq!(
        delta(&|s| s.bytes_out("frames")),
        frame_answers,
        "frame bytes out"
    );
    assert!(
        frame_answers >= frame_bytes,
        "{frame_answers} < {frame_bytes}"
    );
    assert_eq!(
        delta(&|s| s.bytes_out("qido")),
        qido_answer,
        "QIDO bytes out"
    );
    assert_eq!(
        delta(&|s| s.get("tessera_frame_bytes_served_total")),
        frame_bytes
    );
    assert_eq!(delta(&|s| s.get("tessera_frames_served_total")), 3.0);

    // The blob store: one write (made durable), one range read per frame (local frames are
    // read from the file, never cached).
    assert_eq!(delta(&|s| s.blob("put")), 1.0, "blob puts");
    assert_eq!(delta(&|s| s.blob("sync")), 1.0, "blob syncs");
    assert_eq!(delta(&|s| s.blob("get_range")), 3.0, "blob range reads");
    assert_eq!(delta(&|s| s.blob("delete")), 0.0, "blob deletes");
    // The index: one batch stored, the search, the instance looked up by the first frame
    // request (the next two use the row kept from it: frames::locators); scrapes read too.
    assert_eq!(delta(&|s| s.index("store")), 1.0, "index stores");
    assert!(delta(&|s| s.index("search")) >= 1.0, "index searches");
    assert!(delta(&|s| s.index("read")) >= 1.0, "index reads");
    assert_eq!(delta(&|s| s.index("delete")), 0.0, "index deletes");
    // The frame cache is not used for local files: no lookups, hits or misses.
    assert_eq!(
        delta(&|s| s.get("tessera_frame_cache_hits_total")
            + s.get("tessera_frame_cache_misses_total")),
        0.0
    );
    // The scrape itself is the one request in progress.
    assert_eq!(after.get("tessera_http_requests_in_flight"), 1.0);
}

#[tokio::test]
async fn the_open_connections_gauge_follows_a_held_connection() {
    let app = TestApp::spawn(Backend::SQLITE_MEMORY).await;
    let open = |s: &Scrape| s.get("tessera_http_connections_open");
    let before = open(&Scrape::of(&app).await);
    assert!(before >= 1.0, "the scraping connection is open: {before}");

    // A kept-alive connection after one answered request.
    let mut held = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    held.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert_eq!(open(&Scrape::of(&app).await), before + 1.0);

    // Closed by the client: the gauge comes back down.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open(&Scrape::of(&app).await);
        if now == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {now} open, {before} before"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metadata_cache_hits_and_misses_are_counted() {
    let app = TestApp::spawn(Backend::SQLITE_MEMORY).await;
    let instance = MultiFrame::new(7, 16, 1);
    assert_eq!(app.stow_one(&instance.file).await.status, 200);
    let before = Scrape::of(&app).await;
    let path = format!(
        "/dicom-web/studies/{}/series/{}/metadata",
        instance.study_uid, instance.series_uid
    );
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        bodies.push(response.bytes().await.unwrap());
    }
    // The second answer comes from the cache, byte for byte the first.
    assert_eq!(bodies[0], bodies[1]);
    let after = Scrape::of(&app).await;
    let delta = |name: &str| after.get(name) - before.get(name);
    assert_eq!(delta("tessera_metadata_cache_misses_total"), 1.0);
    assert_eq!(delta("tessera_metadata_cache_hits_total"), 1.0);
}
