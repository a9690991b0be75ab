//! Outages of the blob store (S3: Garage) and of the index (PostgreSQL) during concurrent
//! traffic, and the recovery after them, without restarting Tessera.
//!
//! The servers are shared with every other test, so they are never stopped: each test puts
//! a TCP proxy of its own (proxy.rs) between its Tessera and the real server and cuts it,
//! which looks to Tessera like the server going away (connects refused, open connections
//! reset), then restores it.
//!
//! What is asserted, for every request sent while the server was away or coming back:
//! - it got an answer within `REQUEST_TIMEOUT` (no hang); while PostgreSQL is away, a 503
//!   comes within the pool's acquire timeout (`db_acquire_timeout`) and `PROMPT_SLACK`;
//! - the answer is a success with the right content (a STOW's 200 names every instance sent;
//!   a retrieve's 200 carries the stored bytes exactly; a search finds what it must) or a 503
//!   with Retry-After, whose body is a JSON error or, for a STOW, the STOW response with
//!   every instance sent in its FailedSOPSequence (A700); a retrieve may also break off after
//!   its 200 status line (the client sees the transfer fail), which is counted and printed;
//! - while the server is away, /healthz answers 503 and a connect to the proxy is refused;
//! - after the restore, Tessera serves again by itself within `RECOVERY_TIMEOUT`;
//! - then: every instance whose STOW was acknowledged (200) is in the index and comes back
//!   bit-exact, every instance of a refused STOW is absent (QIDO and the index), the index's
//!   counts are exactly the initial plus the acknowledged instances, and every index row's
//!   blob exists. Blobs without a row (from requests that failed while the store was away)
//!   are allowed; they are counted, and the orphan sweep removes them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tessera::ingest::sweep::sweep_orphans;
use tessera_dicom::uid::SopInstanceUid;

use crate::helpers::*;
use crate::proxy::Proxy;
use crate::suite::{ct_variant, ct_variant_uid};
use crate::synthetic::MultiFrame;
use crate::wado_support::parse_multipart;

/// The longest any one request may take, outage or not; beyond it is a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);
/// What a request refused while PostgreSQL is away may take beyond the pool's acquire
/// timeout: the rest of its work, on a debug build and a busy machine.
const PROMPT_SLACK: Duration = Duration::from_secs(2);
/// How soon after the restore Tessera must serve again.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(15);

const CT_STUDY: &str = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const CT_SERIES: &str = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";
const AS_STORED: &str = "application/dicom; transfer-syntax=*";
const FRAMES_AS_STORED: &str =
    "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";
/// STOW requests stored before the outage.
const INITIAL_BATCHES: u32 = 3;

/// SQLite index, S3 (Garage) blob store behind the proxy. STOW and WADO (instances and
/// frames) run concurrently while the store is cut for 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_cut_and_restored_during_stow_and_wado() {
    let started = Instant::now();
    let endpoint = std::env::var("TESSERA_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "S3 test backend not configured: TESSERA_TEST_S3_ENDPOINT is unset. \
             Run scripts/test.sh, which starts Garage and sets it."
        )
    });
    let proxy = Proxy::start(socket_addr(&endpoint)).await;
    println!(
        "Garage {} through the proxy on {}",
        proxy.upstream(),
        proxy.addr()
    );
    let proxied = format!("http://{}", proxy.addr());
    let app = TestApp::spawn_with(Backend::SQLITE_S3, |s| {
        let url = s.storage_url.take().unwrap();
        let through_proxy = url.replace(
            &format!("endpoint={endpoint}"),
            &format!("endpoint={proxied}"),
        );
        assert_ne!(url, through_proxy, "the S3 endpoint in {url}");
        s.storage_url = Some(through_proxy);
        // Every frame read goes to the store (frames read from S3 are cached otherwise).
        s.frame_cache_size = tessera::config::ByteSize(0);
    })
    .await;

    let initial = store_initial(&app).await;
    let clock = Clock::new();
    let next = AtomicU32::new(100);
    let (stows, wados, outage) = tokio::join!(
        async {
            let (a, b) = tokio::join!(
                stow_worker(&app, &clock, &next),
                stow_worker(&app, &clock, &next)
            );
            a.into_iter().chain(b).collect::<Vec<_>>()
        },
        async {
            let (a, b) = tokio::join!(
                wado_worker(&app, &clock, &initial, 0),
                wado_worker(&app, &clock, &initial, 1)
            );
            a.into_iter().chain(b).collect::<Vec<_>>()
        },
        outage(&app, &clock, &proxy, &next, Duration::from_secs(4)),
    );

    // Back without a restart: what the STOW after the restore stored comes back.
    let fresh = outage.fresh.clone();
    assert_eq!(
        wado(&app, &fresh[0]).await,
        Outcome::Ok,
        "WADO after the restore"
    );
    let frames = wado_frames(&app, &fresh[1]).await;
    assert_eq!(frames, Outcome::Ok, "frames after the restore");

    let stow_log = summarize("STOW", stows.iter().map(|(_, a)| a));
    let wado_log = summarize("WADO", wados.iter());
    assert!(
        stow_log.unavailable > 0 && wado_log.unavailable > 0,
        "the cut had no effect: no STOW or no WADO answered 503 (proxy: {:?})",
        proxy.stats()
    );
    assert_no_unexpected(stows.iter().map(|(_, a)| a).chain(&wados));
    let (acknowledged, refused) = split_stows(stows, fresh);
    let blobs = verify(&app, &initial, &acknowledged, &refused).await;
    println!(
        "s3 outage: {} STOW batches acknowledged, {} refused; {} WADO ok, {} 503, {} broken \
         off; /healthz 200 {:.1?} and a STOW {:.1?} after the restore; {} orphan blobs swept; \
         proxy {:?}; {:.1?} in all",
        acknowledged.len(),
        refused.len(),
        wado_log.ok,
        wado_log.unavailable,
        wado_log.broken,
        outage.healthy,
        outage.stored,
        blobs.orphans,
        proxy.stats(),
        started.elapsed(),
    );
}

/// PostgreSQL index behind the proxy, blobs on local disk. STOW and QIDO run concurrently
/// while the index is cut for three times the pool's acquire timeout (`db_acquire_timeout`,
/// 2 s by default), so requests begin and end inside the cut: each 503 must come within the
/// acquire timeout (and `PROMPT_SLACK`), not after the whole outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_and_restored_during_stow_and_qido() {
    let started = Instant::now();
    let admin = std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_string());
    let proxy = Proxy::start(socket_addr(&admin)).await;
    println!(
        "PostgreSQL {} through the proxy on {}",
        proxy.upstream(),
        proxy.addr()
    );
    let port = proxy.addr().port();
    let app = TestApp::spawn_with(Backend::POSTGRES_LOCAL, |s| {
        // The fresh database spawn_with made, reached through the proxy.
        let mut url = url::Url::parse(s.database_url.as_deref().unwrap()).unwrap();
        url.set_port(Some(port)).unwrap();
        s.database_url = Some(url.to_string());
    })
    .await;
    let acquire = app.settings.index_pool().acquire_timeout;

    let initial = store_initial(&app).await;
    let clock = Clock::new();
    let next = AtomicU32::new(100);
    let (stows, qidos, outage) = tokio::join!(
        async {
            let (a, b) = tokio::join!(
                stow_worker(&app, &clock, &next),
                stow_worker(&app, &clock, &next)
            );
            a.into_iter().chain(b).collect::<Vec<_>>()
        },
        async {
            let (a, b) = tokio::join!(
                qido_worker(&app, &clock, &initial, 0),
                qido_worker(&app, &clock, &initial, 1)
            );
            a.into_iter().chain(b).collect::<Vec<_>>()
        },
        outage(&app, &clock, &proxy, &next, acquire * 3),
    );

    // Back without a restart: the STOW after the restore is found.
    let fresh = outage.fresh.clone();
    for instance in &fresh {
        assert_eq!(
            qido_instance(&app, instance).await,
            Outcome::Ok,
            "QIDO after the recovery"
        );
    }

    let stow_log = summarize("STOW", stows.iter().map(|(_, a)| a));
    let qido_log = summarize("QIDO", qidos.iter());
    assert!(
        stow_log.unavailable > 0 && qido_log.unavailable > 0,
        "the cut had no effect: no STOW or no QIDO answered 503 (proxy: {:?})",
        proxy.stats()
    );
    assert_no_unexpected(stows.iter().map(|(_, a)| a).chain(&qidos));
    // Refused promptly: within the acquire timeout, /healthz included.
    let bound = acquire + PROMPT_SLACK;
    let slowest = assert_prompt_refusals(stows.iter().map(|(_, a)| a).chain(&qidos), bound);
    assert!(
        outage.health_during_cut <= bound,
        "/healthz answered 503 after {:?} during the cut (acquire timeout {acquire:?})",
        outage.health_during_cut
    );
    let (acknowledged, refused) = split_stows(stows, fresh);
    let blobs = verify(&app, &initial, &acknowledged, &refused).await;
    println!(
        "postgres outage: slowest 503 {slowest:.1?} (acquire timeout {acquire:?}); {} STOW batches acknowledged, {} refused; {} QIDO ok, {} 503; \
         /healthz 200 {:.1?} and a STOW {:.1?} after the restore; {} orphan blobs swept; \
         proxy {:?}; {:.1?} in all",
        acknowledged.len(),
        refused.len(),
        qido_log.ok,
        qido_log.unavailable,
        outage.healthy,
        outage.stored,
        blobs.orphans,
        proxy.stats(),
        started.elapsed(),
    );
}

// ---------------------------------------------------------------------------------------
// The instances

/// One instance sent, and what it must come back as.
#[derive(Clone)]
struct Instance {
    study: String,
    series: String,
    sop: String,
    file: Bytes,
    /// Its frames as stored (native), when the test reads frames of it.
    frames: Vec<Bytes>,
}

impl Instance {
    fn path(&self) -> String {
        format!(
            "/dicom-web/studies/{}/series/{}/instances/{}",
            self.study, self.series, self.sop
        )
    }
}

/// The two instances of STOW request `n`: a CT_small of its own SOP Instance UID (all of
/// them in one study and series) and a small two-frame instance in a study of its own.
fn batch(n: u32) -> Vec<Instance> {
    let multi = MultiFrame::new(n, 16, 2);
    vec![
        Instance {
            study: CT_STUDY.into(),
            series: CT_SERIES.into(),
            sop: ct_variant_uid(n),
            file: ct_variant(n),
            frames: Vec::new(),
        },
        Instance {
            frames: vec![multi.frame(1), multi.frame(2)],
            study: multi.study_uid,
            series: multi.series_uid,
            sop: multi.sop_uid,
            file: multi.file,
        },
    ]
}

/// (studies, series, instances) in the index when these batches are stored.
fn expected_counts(batches: usize) -> (i64, i64, i64) {
    let b = batches as i64;
    let ct = i64::from(b > 0);
    (b + ct, b + ct, 2 * b)
}

async fn store_initial(app: &TestApp) -> Vec<Vec<Instance>> {
    let batches: Vec<_> = (1..=INITIAL_BATCHES).map(batch).collect();
    for instances in &batches {
        assert_eq!(stow(app, instances).await, Outcome::Ok, "initial STOW");
    }
    assert_eq!(app.counts().await, expected_counts(batches.len()));
    batches
}

// ---------------------------------------------------------------------------------------
// Requests and their outcomes

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// The right answer, checked to the byte.
    Ok,
    /// 503 with Retry-After; the JSON body's error code and message.
    Unavailable(String),
    /// 200, then the body broke off: the client saw the transfer fail.
    BrokenBody(String),
    /// Anything else (a 500, a 503 without Retry-After, wrong content, no answer, a hang).
    Unexpected(String),
}

/// The answer to one request: status, headers, body (or how reading it failed).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Result<Bytes, String>,
}

/// Send, and read the whole answer, within `REQUEST_TIMEOUT`. Tessera itself is never cut:
/// a request without an answer is an `Unexpected` outcome.
async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, Outcome> {
    let exchange = async {
        let response = request
            .send()
            .await
            .map_err(|e| Outcome::Unexpected(format!("no response: {e:?}")))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| format!("{e:?}"));
        Ok(Answer {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Outcome::Unexpected(format!(
                "no answer within {REQUEST_TIMEOUT:?}: a hang"
            )))
        })
}

/// The outcome of an answer that is not a 200.
fn refusal(answer: &Answer) -> Outcome {
    let body = match &answer.body {
        Ok(body) => String::from_utf8_lossy(body).into_owned(),
        Err(err) => format!("<body failed: {err}>"),
    };
    let retry_after = answer.headers.get("retry-after");
    if answer.status != 503 || retry_after.is_none() {
        return Outcome::Unexpected(format!(
            "status {} (Retry-After {retry_after:?}): {body}",
            answer.status
        ));
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(json) if json["error"].is_string() => Outcome::Unavailable(format!(
            "{}: {}",
            json["error"].as_str().unwrap(),
            json["message"].as_str().unwrap_or_default()
        )),
        _ => Outcome::Unexpected(format!("503 whose body is not a JSON error: {body}")),
    }
}

/// The outcome of a STOW answer that is not a 200: a 503 with Retry-After whose body is a
/// JSON error, or the STOW response naming every instance sent in its FailedSOPSequence with
/// FailureReason A700 (out of resources) and none in a ReferencedSOPSequence.
fn stow_refusal(answer: &Answer, instances: &[Instance]) -> Outcome {
    let json = answer
        .body
        .as_ref()
        .ok()
        .and_then(|body| serde_json::from_slice::<Value>(body).ok());
    let Some(json) = json.filter(|json| json.get("00081198").is_some()) else {
        return refusal(answer);
    };
    let retry_after = answer.headers.get("retry-after");
    let failed: Vec<(&str, u64)> = json["00081198"]["Value"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    (
                        item["00081155"]["Value"][0].as_str().unwrap_or_default(),
                        item["00081197"]["Value"][0].as_u64().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let expected: Vec<(&str, u64)> = instances.iter().map(|i| (i.sop.as_str(), 0xA700)).collect();
    let warning = answer
        .headers
        .get("warning")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<no Warning>");
    if answer.status == 503
        && retry_after.is_some()
        && failed == expected
        && json.get("00081199").is_none()
    {
        Outcome::Unavailable(format!("FailedSOPSequence A700, Warning: {warning}"))
    } else {
        Outcome::Unexpected(format!(
            "STOW status {} (Retry-After {retry_after:?}, Warning {warning}): {json}",
            answer.status
        ))
    }
}

async fn stow(app: &TestApp, instances: &[Instance]) -> Outcome {
    let boundary = "outage-boundary-5c2e";
    let files: Vec<Bytes> = instances.iter().map(|i| i.file.clone()).collect();
    let request = app
        .client
        .post(app.url("/dicom-web/studies"))
        .header(
            "content-type",
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .body(multipart_body(boundary, &files));
    let answer = match exchange(request).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    if answer.status != 200 {
        return stow_refusal(&answer, instances);
    }
    let body = match &answer.body {
        Ok(body) => body,
        Err(err) => return Outcome::Unexpected(format!("200 whose body failed: {err}")),
    };
    let json: Value = match serde_json::from_slice(body) {
        Ok(json) => json,
        Err(_) => {
            return Outcome::Unexpected(format!("200: {}", String::from_utf8_lossy(body)));
        }
    };
    let referenced: Vec<&str> = json["00081199"]["Value"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["00081155"]["Value"][0].as_str())
                .collect()
        })
        .unwrap_or_default();
    let sent: Vec<&str> = instances.iter().map(|i| i.sop.as_str()).collect();
    if referenced != sent || json.get("00081198").is_some() {
        return Outcome::Unexpected(format!("200 that does not name what was sent: {json}"));
    }
    Outcome::Ok
}

/// Retrieve one instance as stored: the very bytes sent.
async fn wado(app: &TestApp, instance: &Instance) -> Outcome {
    let request = app
        .client
        .get(app.url(&instance.path()))
        .header("accept", AS_STORED);
    let answer = match exchange(request).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    if answer.status != 200 {
        return refusal(&answer);
    }
    match answer.body {
        Ok(body) if body == instance.file => Outcome::Ok,
        Ok(body) => Outcome::Unexpected(format!(
            "200 with {} bytes that are not the {} stored",
            body.len(),
            instance.file.len()
        )),
        Err(err) => Outcome::BrokenBody(err),
    }
}

/// Retrieve both frames of a two-frame instance as stored.
async fn wado_frames(app: &TestApp, instance: &Instance) -> Outcome {
    let path = format!("{}/frames/1,2", instance.path());
    let request = app
        .client
        .get(app.url(&path))
        .header("accept", FRAMES_AS_STORED);
    let answer = match exchange(request).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    if answer.status != 200 {
        return refusal(&answer);
    }
    let body = match answer.body {
        Ok(body) => body,
        Err(err) => return Outcome::BrokenBody(err),
    };
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts = parse_multipart(content_type, &body, &path);
    let frames: Vec<Bytes> = parts.into_iter().map(|p| p.body).collect();
    if frames == instance.frames {
        Outcome::Ok
    } else {
        Outcome::Unexpected(format!("200 whose frames are not the stored ones: {path}"))
    }
}

/// QIDO for one instance by its UID: exactly it.
async fn qido_instance(app: &TestApp, instance: &Instance) -> Outcome {
    match qido_sops(app, &instance.sop).await {
        Ok(found) if found == [instance.sop.clone()] => Outcome::Ok,
        Ok(found) => Outcome::Unexpected(format!("QIDO for {} found {found:?}", instance.sop)),
        Err(outcome) => outcome,
    }
}

/// The SOP Instance UIDs a QIDO by this SOP Instance UID finds.
async fn qido_sops(app: &TestApp, sop: &str) -> Result<Vec<String>, Outcome> {
    let request = app
        .client
        .get(app.url(&format!("/dicom-web/instances?SOPInstanceUID={sop}")))
        .header("accept", "application/dicom+json");
    let answer = exchange(request).await?;
    if answer.status != 200 {
        return Err(refusal(&answer));
    }
    let body = answer
        .body
        .map_err(|e| Outcome::Unexpected(format!("QIDO 200 whose body failed: {e}")))?;
    let json: Value = serde_json::from_slice(&body).map_err(|_| {
        Outcome::Unexpected(format!("QIDO 200: {}", String::from_utf8_lossy(&body)))
    })?;
    let items = json
        .as_array()
        .ok_or_else(|| Outcome::Unexpected(format!("QIDO 200: {json}")))?;
    Ok(items
        .iter()
        .map(|item| {
            item["00080018"]["Value"][0]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect())
}

/// QIDO for the studies: at least the initial ones.
async fn qido_studies(app: &TestApp, at_least: usize) -> Outcome {
    let request = app
        .client
        .get(app.url("/dicom-web/studies"))
        .header("accept", "application/dicom+json");
    let answer = match exchange(request).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    if answer.status != 200 {
        return refusal(&answer);
    }
    let studies = answer
        .body
        .ok()
        .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
        .and_then(|json| json.as_array().map(Vec::len));
    match studies {
        Some(n) if n >= at_least => Outcome::Ok,
        other => Outcome::Unexpected(format!("QIDO /studies found {other:?} studies")),
    }
}

// ---------------------------------------------------------------------------------------
// The traffic and the outage

const BEFORE: u8 = 0;
const CUT: u8 = 1;
const RESTORED: u8 = 2;

fn phase_name(phase: u8) -> &'static str {
    ["before", "cut", "restored"][usize::from(phase)]
}

/// Where the outage is, seen by every worker.
struct Clock {
    phase: AtomicU8,
    stop: AtomicBool,
    restored_at: std::sync::Mutex<Option<Instant>>,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            phase: AtomicU8::new(BEFORE),
            stop: AtomicBool::new(false),
            restored_at: std::sync::Mutex::new(None),
        }
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::SeqCst)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn since_restore(&self) -> Duration {
        self.restored_at
            .lock()
            .unwrap()
            .expect("restored")
            .elapsed()
    }

    /// Run one request and note when it ran relative to the outage.
    async fn attempt(&self, what: String, request: impl Future<Output = Outcome>) -> Attempt {
        let phase_at_start = self.phase();
        let start = Instant::now();
        let outcome = request.await;
        Attempt {
            what,
            phase_at_start,
            phase_at_end: self.phase(),
            elapsed: start.elapsed(),
            outcome,
        }
    }
}

#[derive(Debug)]
struct Attempt {
    what: String,
    phase_at_start: u8,
    phase_at_end: u8,
    elapsed: Duration,
    outcome: Outcome,
}

/// STOW new batches, one request after the other, until the traffic stops.
async fn stow_worker(
    app: &TestApp,
    clock: &Clock,
    next: &AtomicU32,
) -> Vec<(Vec<Instance>, Attempt)> {
    let mut log = Vec::new();
    while !clock.stopped() {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let instances = batch(n);
        let attempt = clock
            .attempt(format!("STOW batch {n}"), stow(app, &instances))
            .await;
        log.push((instances, attempt));
    }
    log
}

/// Retrieve the initial instances, whole and frame by frame, until the traffic stops.
async fn wado_worker(
    app: &TestApp,
    clock: &Clock,
    initial: &[Vec<Instance>],
    worker: usize,
) -> Vec<Attempt> {
    let mut log = Vec::new();
    let mut turn = worker;
    while !clock.stopped() {
        let instances = &initial[turn % initial.len()];
        let attempt = if turn % 2 == 0 {
            let instance = &instances[turn / 2 % instances.len()];
            clock
                .attempt(format!("WADO {}", instance.sop), wado(app, instance))
                .await
        } else {
            let instance = &instances[1];
            clock
                .attempt(
                    format!("WADO frames of {}", instance.sop),
                    wado_frames(app, instance),
                )
                .await
        };
        log.push(attempt);
        turn += 1;
    }
    log
}

/// Search for the initial instances and studies until the traffic stops.
async fn qido_worker(
    app: &TestApp,
    clock: &Clock,
    initial: &[Vec<Instance>],
    worker: usize,
) -> Vec<Attempt> {
    let all: Vec<&Instance> = initial.iter().flatten().collect();
    let studies = expected_counts(initial.len()).0 as usize;
    let mut log = Vec::new();
    let mut turn = worker;
    while !clock.stopped() {
        let attempt = if turn % 3 == 2 {
            clock
                .attempt("QIDO /studies".into(), qido_studies(app, studies))
                .await
        } else {
            let instance = all[turn % all.len()];
            clock
                .attempt(
                    format!("QIDO {}", instance.sop),
                    qido_instance(app, instance),
                )
                .await
        };
        log.push(attempt);
        turn += 1;
    }
    log
}

struct OutageReport {
    /// How long the /healthz sent during the cut took to answer 503.
    health_during_cut: Duration,
    /// From the restore to the first /healthz 200.
    healthy: Duration,
    /// From the restore to the first STOW acknowledged.
    stored: Duration,
    /// What that STOW stored.
    fresh: Vec<Instance>,
}

/// Let the traffic run for a second, cut the proxy for `cut_for`, restore it, wait for
/// /healthz to say 200 and for a new STOW to be acknowledged, let the traffic run one more
/// second, then stop it. While cut, the proxy refuses connects and /healthz answers 503.
async fn outage(
    app: &TestApp,
    clock: &Clock,
    proxy: &Proxy,
    next: &AtomicU32,
    cut_for: Duration,
) -> OutageReport {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let live = proxy.stats().accepted.load(Ordering::SeqCst);
    clock.phase.store(CUT, Ordering::SeqCst);
    let cut_at = Instant::now();
    proxy.cut().await;
    let reset = proxy.stats().reset.load(Ordering::SeqCst);
    assert!(
        reset > 0,
        "the cut reset no connection ({live} accepted so far): nothing was talking to the server"
    );
    let refused = tokio::net::TcpStream::connect(proxy.addr()).await;
    assert!(
        matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "a connect to the cut proxy: {refused:?}"
    );
    let (_, health) = tokio::join!(tokio::time::sleep(cut_for), async {
        let request = app.client.get(app.url("/healthz"));
        let begun = Instant::now();
        let answer = exchange(request).await;
        (answer.map(|a| (a.status, a.body)), begun.elapsed())
    });
    let (health, health_took) = health;
    match health {
        Ok((503, Ok(body))) => {
            let json: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["status"], "unavailable", "{json}");
            println!("/healthz during the cut: 503 after {health_took:.1?}: {json}");
        }
        Ok((status, body)) => panic!("/healthz during the cut: {status} {body:?}"),
        Err(outcome) => panic!("/healthz during the cut: {outcome:?}"),
    }
    assert!(
        cut_at.elapsed() < cut_for + Duration::from_secs(2),
        "/healthz held the restore back: {health_took:?}"
    );
    proxy.restore().await;
    *clock.restored_at.lock().unwrap() = Some(Instant::now());
    clock.phase.store(RESTORED, Ordering::SeqCst);
    // Back by itself, while the traffic goes on: /healthz says 200, a new STOW is stored.
    let healthy = poll_health(app, clock).await;
    let (stored, fresh) = recover_stow(app, clock, next).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    clock.stop.store(true, Ordering::SeqCst);
    OutageReport {
        health_during_cut: health_took,
        healthy,
        stored,
        fresh,
    }
}

/// STOW new batches until one is acknowledged, within `RECOVERY_TIMEOUT` of the restore
/// (503s meanwhile are allowed, anything else is not). Returns the time since the restore.
async fn recover_stow(app: &TestApp, clock: &Clock, next: &AtomicU32) -> (Duration, Vec<Instance>) {
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let instances = batch(n);
        match stow(app, &instances).await {
            Outcome::Ok => return (clock.since_restore(), instances),
            Outcome::Unavailable(why) if clock.since_restore() < RECOVERY_TIMEOUT => {
                println!("STOW after the restore: 503 {why}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => panic!(
                "STOW {:.1?} after the restore: {other:?}",
                clock.since_restore()
            ),
        }
    }
}

/// Poll /healthz until it says 200, within `RECOVERY_TIMEOUT` of the restore.
async fn poll_health(app: &TestApp, clock: &Clock) -> Duration {
    loop {
        let answer = exchange(app.client.get(app.url("/healthz"))).await;
        match answer {
            Ok(answer) if answer.status == 200 => return clock.since_restore(),
            Ok(answer) if answer.status == 503 && clock.since_restore() < RECOVERY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(answer) => panic!(
                "/healthz {:.1?} after the restore: {} {:?}",
                clock.since_restore(),
                answer.status,
                answer.body
            ),
            Err(outcome) => panic!("/healthz after the restore: {outcome:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The checks

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    unavailable: usize,
    broken: usize,
    unexpected: usize,
}

/// Count and print the outcomes of one kind of request, by phase.
fn summarize<'a>(kind: &str, attempts: impl Iterator<Item = &'a Attempt>) -> Tally {
    let mut tally = Tally::default();
    let mut by_phase: BTreeMap<(u8, u8), (Tally, Duration)> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in attempts {
        let (phase, slowest) = by_phase
            .entry((attempt.phase_at_start, attempt.phase_at_end))
            .or_default();
        *slowest = (*slowest).max(attempt.elapsed);
        for t in [&mut tally, phase] {
            match &attempt.outcome {
                Outcome::Ok => t.ok += 1,
                Outcome::Unavailable(_) => t.unavailable += 1,
                Outcome::BrokenBody(_) => t.broken += 1,
                Outcome::Unexpected(_) => t.unexpected += 1,
            }
        }
        match &attempt.outcome {
            Outcome::Unavailable(why) => *reasons.entry(format!("503 {why}")).or_default() += 1,
            Outcome::BrokenBody(why) => {
                *reasons.entry(format!("broken off: {why}")).or_default() += 1
            }
            _ => {}
        }
    }
    for ((from, to), (t, slowest)) in &by_phase {
        println!(
            "{kind} begun {} ended {}: {} ok, {} 503, {} broken off, {} unexpected; slowest {slowest:.1?}",
            phase_name(*from),
            phase_name(*to),
            t.ok,
            t.unavailable,
            t.broken,
            t.unexpected
        );
    }
    for (reason, n) in reasons {
        println!("{kind}: {n} x {reason}");
    }
    tally
}

fn assert_no_unexpected<'a>(attempts: impl Iterator<Item = &'a Attempt>) {
    let unexpected: Vec<String> = attempts
        .filter(|a| matches!(a.outcome, Outcome::Unexpected(_)))
        .map(|a| {
            format!(
                "{} (begun {}, ended {}, {:.1?}): {:?}",
                a.what,
                phase_name(a.phase_at_start),
                phase_name(a.phase_at_end),
                a.elapsed,
                a.outcome
            )
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers that are neither a success nor a 503 with Retry-After: {unexpected:#?}"
    );
}

/// Every 503 came within `bound`; the slowest 503.
fn assert_prompt_refusals<'a>(
    attempts: impl Iterator<Item = &'a Attempt>,
    bound: Duration,
) -> Duration {
    let refused: Vec<&Attempt> = attempts
        .filter(|a| matches!(a.outcome, Outcome::Unavailable(_)))
        .collect();
    let late: Vec<String> = refused
        .iter()
        .filter(|a| a.elapsed > bound)
        .map(|a| format!("{} {:.1?}: {:?}", a.what, a.elapsed, a.outcome))
        .collect();
    assert!(late.is_empty(), "503s slower than {bound:?}: {late:#?}");
    refused.iter().map(|a| a.elapsed).max().unwrap_or_default()
}

/// The acknowledged batches (with the one stored at the recovery) and the refused ones.
fn split_stows(
    stows: Vec<(Vec<Instance>, Attempt)>,
    fresh: Vec<Instance>,
) -> (Vec<Vec<Instance>>, Vec<Vec<Instance>>) {
    let mut acknowledged = vec![fresh];
    let mut refused = Vec::new();
    for (instances, attempt) in stows {
        match attempt.outcome {
            Outcome::Ok => acknowledged.push(instances),
            _ => {
                println!(
                    "refused: {} (begun {}, ended {}, {:.1?}): {:?}",
                    attempt.what,
                    phase_name(attempt.phase_at_start),
                    phase_name(attempt.phase_at_end),
                    attempt.elapsed,
                    attempt.outcome
                );
                refused.push(instances)
            }
        }
    }
    (acknowledged, refused)
}

struct BlobReport {
    orphans: usize,
}

/// Everything acknowledged is there and bit-exact, nothing refused is, the counts are exact,
/// every row has its blob; then the sweep leaves exactly one blob per row.
async fn verify(
    app: &TestApp,
    initial: &[Vec<Instance>],
    acknowledged: &[Vec<Instance>],
    refused: &[Vec<Instance>],
) -> BlobReport {
    // Refused requests: nothing of them stored, or, when the database connection broke
    // during the commit itself, all of them (the answer was lost, not the transaction:
    // docs/operations.md). Never a part of one.
    let mut committed_anyway: Vec<&Vec<Instance>> = Vec::new();
    for batch in refused {
        let mut present = Vec::new();
        for instance in batch {
            let found = qido_sops(app, &instance.sop)
                .await
                .unwrap_or_else(|o| panic!("QIDO for a refused instance: {o:?}"));
            let sop = SopInstanceUid::parse(&instance.sop).unwrap();
            let row = app.state.index.instance(&sop).await.unwrap();
            present.push(!found.is_empty() || row.is_some());
        }
        if present.iter().all(|p| *p) && !batch.is_empty() {
            committed_anyway.push(batch);
        } else {
            assert!(
                present.iter().all(|p| !p),
                "a refused request is partly stored: {:?}",
                batch.iter().map(|i| &i.sop).collect::<Vec<_>>()
            );
        }
    }
    if !committed_anyway.is_empty() {
        println!(
            "outage: {} refused request(s) committed with their answer lost",
            committed_anyway.len()
        );
    }

    // Exact counts: the initial and the acknowledged instances (and those committed with
    // their answer lost), nothing else; each readable bit-exact below.
    let stored: Vec<&Instance> = initial
        .iter()
        .chain(acknowledged)
        .chain(committed_anyway.iter().copied())
        .flatten()
        .collect();
    let sops: BTreeSet<&str> = stored.iter().map(|i| i.sop.as_str()).collect();
    assert_eq!(sops.len(), stored.len(), "every instance sent is distinct");
    assert_eq!(
        app.counts().await,
        expected_counts(initial.len() + acknowledged.len() + committed_anyway.len()),
        "(studies, series, instances) in the index"
    );

    // Every row's blob exists, and every acknowledged instance comes back bit-exact.
    let blobs: BTreeSet<String> = app
        .state
        .store
        .list_instances()
        .map(|item| item.expect("list blobs").key.to_string())
        .collect()
        .await;
    for instance in &stored {
        let sop = SopInstanceUid::parse(&instance.sop).unwrap();
        let row = app
            .state
            .index
            .instance(&sop)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {} has no index row", instance.sop));
        assert!(
            blobs.contains(&row.blob_key.to_string()),
            "the index row of {} points at {}, which is not in the store",
            instance.sop,
            row.blob_key
        );
        assert_eq!(
            wado(app, instance).await,
            Outcome::Ok,
            "WADO of acknowledged {}",
            instance.sop
        );
        assert_eq!(qido_instance(app, instance).await, Outcome::Ok);
    }

    // Blobs without a row: written by requests that failed, whose clean-up could not reach
    // the store. The sweep (its clock moved past the grace period) removes them.
    let orphans = blobs.len() - stored.len();
    let grace = Duration::from_secs(3600);
    let later = SystemTime::now() + grace + Duration::from_secs(1);
    let report = sweep_orphans(&app.state.store, &app.state.index, grace, later)
        .await
        .unwrap();
    assert_eq!(report.deleted, orphans as u64, "{report:?}");
    assert_eq!(
        app.blob_count().await,
        stored.len(),
        "blobs after the sweep"
    );
    assert_eq!(app.staging_files(), 0, "staging files left behind");
    BlobReport { orphans }
}

/// The address of a URL's host and port (`http://127.0.0.1:3900`, `postgres://...:5432/db`).
fn socket_addr(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let port = parsed.port_or_known_default().unwrap_or(5432);
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: the proxy needs an IP address: {e}"))
}

// Regression tests for two bugs found with the proxy (see the report of issue 17). They
// append to tests/api/outage.rs and use its helpers. Both FAIL on the tree of 2026-12-03.

/// An app on PostgreSQL through a proxy, and a direct connection to its database.
async fn app_and_database() -> (Proxy, TestApp, sqlx::PgConnection) {
    use sqlx::Connection;
    let admin = std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_string());
    let proxy = Proxy::start(socket_addr(&admin)).await;
    let port = proxy.addr().port();
    let mut direct = String::new();
    let app = TestApp::spawn_with(Backend::POSTGRES_LOCAL, |s| {
        direct = s.database_url.clone().unwrap();
        let mut url = url::Url::parse(&direct).unwrap();
        url.set_port(Some(port)).unwrap();
        s.database_url = Some(url.to_string());
    })
    .await;
    let conn = sqlx::PgConnection::connect(&direct).await.unwrap();
    (proxy, app, conn)
}

/// Poll `sql` (a count) on `conn` until it is positive, for at most 5 s.
async fn wait_until(conn: &mut sqlx::PgConnection, sql: &str) {
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await.unwrap();
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never true: {sql}");
}

/// The connection to PostgreSQL breaks while COMMIT is being processed (a deferred trigger
/// makes the commit take 1.5 s; the proxy is cut meanwhile). PostgreSQL commits; Tessera
/// never hears it, answers 503, and must not delete the blobs the committed rows point at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_lost_during_commit_keeps_the_blobs() {
    let (proxy, app, mut conn) = app_and_database().await;
    sqlx::raw_sql(
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON instances \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let instances = batch(1);
    let (outcome, ()) = tokio::join!(stow(&app, &instances), async {
        wait_until(
            &mut conn,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query ILIKE 'COMMIT%'",
        )
        .await;
        proxy.cut().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.restore().await;
    });
    assert!(matches!(outcome, Outcome::Unavailable(_)), "{outcome:?}");
    // PostgreSQL commits once the trigger has run for both rows (the premise of the test).
    let mut counts = app.counts().await;
    for _ in 0..100 {
        if counts == (2, 2, 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = app.counts().await;
    }
    assert_eq!(counts, (2, 2, 2), "the commit went through");
    // ... so the rows are there, and an index row never points at nothing.
    for instance in &instances {
        assert_eq!(
            wado(&app, instance).await,
            Outcome::Ok,
            "{} is in the index: its blob must be there",
            instance.sop
        );
    }
}

/// The instances are committed, then writing the STOW's audit record fails (the index goes
/// away while that write waits for a lock). The answer must not be a 503 that tells the
/// client to send again what is stored: a retry then gets 409 (0111, duplicate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_audit_write_after_commit_is_not_a_503() {
    let (proxy, app, mut conn) = app_and_database().await;
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("LOCK TABLE audit_events IN EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    let instances = batch(1);
    let (outcome, ()) = tokio::join!(stow(&app, &instances), async {
        wait_until(
            &mut conn,
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'audit_events' AND NOT l.granted",
        )
        .await;
        proxy.cut().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.restore().await;
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    });
    let stored = app.counts().await;
    assert_eq!(stored, (2, 2, 2), "the instances were committed");
    assert_eq!(
        outcome,
        Outcome::Ok,
        "a STOW whose instances are stored answered a failure"
    );
}
