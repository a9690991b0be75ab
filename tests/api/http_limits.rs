//! The HTTP port against slow, abandoned, oversized and too many requests (issue 17): each
//! is cut off by its limit with the right answer, leaves nothing behind, and never stops the
//! server from answering others. Raw TCP where a real client would not misbehave on purpose.

use std::time::{Duration, Instant};

use tessera::config::ByteSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{multipart_body, read_testdata, Backend, StowResult, TestApp};
use crate::qido_fixtures::{Part10, CT, SR};

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Everything the server sends until it closes the connection, and how long that took
/// (panics after `limit`: the server never closed it).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; it sent {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line in {response:?}"))
}

#[tokio::test]
async fn half_sent_and_idle_connections_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| s.http_header_timeout = 2).await;
    // Half a header, then silence (slowloris).
    let mut half = TcpStream::connect(addr(&app)).await.unwrap();
    half.write_all(b"GET /dicom-web/studies HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // One byte every 500 ms never completes a header either.
    let mut drip = TcpStream::connect(addr(&app)).await.unwrap();
    let dripping = tokio::spawn(async move {
        for _ in 0..20 {
            if drip.write_all(b"a").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    });
    // Nothing at all.
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    // A kept-alive connection after one answered request.
    let mut kept = TcpStream::connect(addr(&app)).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let opened = Instant::now();
    for (what, stream) in [("half header", &mut half), ("silent", &mut silent)] {
        let (sent, _) = read_until_closed(stream, Duration::from_secs(6)).await;
        let took = opened.elapsed();
        assert!(sent.is_empty() || status_of(&sent) == 408, "{what}: {sent}");
        assert!(
            took >= Duration::from_millis(1500),
            "{what}: closed after {took:?}"
        );
    }
    let (_, took) = read_until_closed(&mut kept, Duration::from_secs(6)).await;
    assert!(took <= Duration::from_secs(6), "kept-alive: {took:?}");
    assert!(
        tokio::time::timeout(Duration::from_secs(8), dripping)
            .await
            .unwrap()
            .unwrap(),
        "a header sent a byte at a time was never cut off"
    );
    // The server answers others all along.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_abandoned_upload_ends_in_408_and_leaves_no_staging_file() {
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| {
        s.http_body_timeout = 2;
        // Parts above 1 KiB go to a staging file as they arrive.
        s.spool_size = ByteSize(1024);
    })
    .await;
    let ct = read_testdata("CT_small.dcm");

    // A single-instance body: Content-Length 1 MB, then 4 bytes, then silence.
    let mut single = TcpStream::connect(addr(&app)).await.unwrap();
    single
        .write_all(
            b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Type: application/dicom\r\n\
              Content-Length: 1000000\r\n\r\nDICM",
        )
        .await
        .unwrap();
    // A multipart body cut off inside its first part, which is being staged to a file.
    let mut multipart = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\n\
         Content-Type: multipart/related; type=\"application/dicom\"; boundary=b0undary\r\n\
         Content-Length: {}\r\n\r\n--b0undary\r\nContent-Type: application/dicom\r\n\r\n",
        ct.len() + 200
    );
    multipart.write_all(head.as_bytes()).await.unwrap();
    multipart.write_all(&ct[..ct.len() / 2]).await.unwrap();
    // The half part reaches the staging folder while the client is silent.
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.staging_files() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.staging_files(), 1, "the part being received is staged");

    let silent_since = Instant::now();
    for (what, stream) in [("single", &mut single), ("multipart", &mut multipart)] {
        let (answer, _) = read_until_closed(stream, Duration::from_secs(8)).await;
        let took = silent_since.elapsed();
        assert_eq!(status_of(&answer), 408, "{what}: {answer}");
        assert!(answer.contains("\"request_timeout\""), "{what}: {answer}");
        assert!(
            answer.contains("no part of the request body for 2 s"),
            "{what}: {answer}"
        );
        assert!(
            took >= Duration::from_millis(1500),
            "{what}: after {took:?}"
        );
    }
    app.assert_empty("after two abandoned uploads").await;
    // A slow but steady upload is not cut off: 6 pieces 1 s apart (3x the timeout in all).
    let mut steady = TcpStream::connect(addr(&app)).await.unwrap();
    steady
        .write_all(
            format!(
                "POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Type: application/dicom\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                ct.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let piece = ct.len().div_ceil(6);
    for chunk in ct.chunks(piece) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        steady.write_all(chunk).await.unwrap();
    }
    let (answer, _) = read_until_closed(&mut steady, Duration::from_secs(10)).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(app.counts().await, (1, 1, 1));
    assert_eq!(app.staging_files(), 0);
}

#[tokio::test]
async fn oversized_headers_are_refused_with_431() {
    let app = TestApp::spawn(Backend::SQLITE_MEMORY).await;
    let url = app.url("/dicom-web/studies");
    // 70 KB in one field: over the 32 KiB default.
    let big = "x".repeat(70 * 1024);
    let response = app
        .client
        .get(&url)
        .header("X-Big", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    // 20 KB is within it.
    let fine = "x".repeat(20 * 1024);
    let response = app
        .client
        .get(&url)
        .header("X-Big", &fine)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // 150 fields: over the 100 allowed.
    let mut request = app.client.get(&url);
    for i in 0..150 {
        request = request.header(format!("X-Field-{i}"), "v");
    }
    assert_eq!(request.send().await.unwrap().status(), 431);
    let mut request = app.client.get(&url);
    for i in 0..60 {
        request = request.header(format!("X-Field-{i}"), "v");
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    // A 40 KB query string is beyond max_query_length (8 KiB) before it is beyond the
    // header's limit: 414, which says what is wrong.
    let query = format!("{url}?PatientID={}", "1".repeat(40 * 1024));
    assert_eq!(app.client.get(&query).send().await.unwrap().status(), 414);
}

#[tokio::test]
async fn requests_beyond_the_limit_are_shed_with_503_and_retry_after() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| {
        s.max_concurrent_requests = 2;
        s.http_body_timeout = 30;
    })
    .await;
    // Two uploads in progress hold both slots.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        stream
            .write_all(
                b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Type: application/dicom\r\n\
                  Content-Length: 100000\r\n\r\nDICM",
            )
            .await
            .unwrap();
        holders.push(stream);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let shed = loop {
        let response = app
            .client
            .get(app.url("/dicom-web/studies"))
            .send()
            .await
            .unwrap();
        if response.status() == 503 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_str(&shed.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "overloaded", "{body}");
    // Health checks are never shed.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        app.state
            .metrics
            .render()
            .lines()
            .any(|l| l.starts_with("tessera_http_requests_shed_total ") && !l.ends_with(" 0")),
        "the shed request is counted"
    );
    // Once the uploads are abandoned their slots come back.
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = app
            .client
            .get(app.url("/dicom-web/studies"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the holders left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| s.max_connections = 2).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        open.push(stream);
    }
    // The third is accepted by the kernel but not served while two are open.
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), third.read_exact(&mut first))
            .await
            .is_err(),
        "a third connection was served beyond max_connections = 2"
    );
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut first))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
}

/// The JSON error body of a refused request: its code and message.
async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// A CT instance of `study` (its series `study.1`) with this SOP Instance UID.
fn ct(study: &str, sop: &str) -> bytes::Bytes {
    Part10::new(CT, sop)
        .text(
            dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
            dicom_core::VR::UI,
            study,
        )
        .text(
            dicom_dictionary_std::tags::SERIES_INSTANCE_UID,
            dicom_core::VR::UI,
            &format!("{study}.1"),
        )
        .text(
            dicom_dictionary_std::tags::PATIENT_ID,
            dicom_core::VR::LO,
            "LIMITS",
        )
        .pixels(16, 16, 1)
        .build()
}

/// How many instances QIDO finds in a study.
async fn instances_in(app: &TestApp, study: &str) -> usize {
    let response = app
        .client
        .get(app.url(&format!("/dicom-web/studies/{study}/instances")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    if status == 204 || text.trim().is_empty() {
        return 0;
    }
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Vec<serde_json::Value>>(&text)
        .unwrap()
        .len()
}

async fn post_parts(app: &TestApp, parts: &[bytes::Bytes]) -> reqwest::Response {
    app.client
        .post(app.url("/dicom-web/studies"))
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom\"; boundary=b0undary",
        )
        .body(multipart_body("b0undary", parts))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn stow_parts_beyond_max_parts_per_request_are_refused_whole_with_413() {
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, |s| {
        s.max_parts_per_request = 3;
        // Parts above 1 KiB go to a staging file: none may be left behind either.
        s.spool_size = tessera::config::ByteSize(1024);
    })
    .await;
    // Exactly the limit: stored.
    let at = "2.25.1717.1";
    let parts: Vec<_> = (1..=3).map(|i| ct(at, &format!("{at}.1.{i}"))).collect();
    let stored = StowResult::from(post_parts(&app, &parts).await).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.referenced().len(), 3);
    assert_eq!(instances_in(&app, at).await, 3);
    // One over: refused whole, though its first three parts were read, parsed and written
    // before the fourth began.
    let over = "2.25.1717.2";
    let parts: Vec<_> = (1..=4)
        .map(|i| ct(over, &format!("{over}.1.{i}")))
        .collect();
    let (status, code, message) = error_of(post_parts(&app, &parts).await).await;
    assert_eq!(status, 413, "{message}");
    assert_eq!(code, "too_many_parts");
    assert!(message.contains("more than 3 parts"), "{message}");
    assert!(
        message.contains("none of its instances were stored"),
        "{message}"
    );
    assert_eq!(
        instances_in(&app, over).await,
        0,
        "nothing of the refused request"
    );
    assert_eq!(app.counts().await, (1, 1, 3));
    assert_eq!(
        app.blob_count().await,
        3,
        "the refused request's blobs are gone"
    );
    assert_eq!(app.staging_files(), 0);
    // Far over, sent in pieces without Content-Length: the same answer.
    let many: Vec<_> = (1..=50)
        .map(|i| ct(over, &format!("{over}.2.{i}")))
        .collect();
    let body = multipart_body("b0undary", &many);
    let stream = futures::stream::iter(
        body.chunks(4096)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let response = app
        .client
        .post(app.url("/dicom-web/studies"))
        .header(
            "content-type",
            "multipart/related; type=\"application/dicom\"; boundary=b0undary",
        )
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (413, "too_many_parts"));
    assert_eq!(instances_in(&app, over).await, 0);
    assert_eq!(app.counts().await, (1, 1, 3));
    assert_eq!(app.blob_count().await, 3);
    assert_eq!(app.staging_files(), 0);
}

#[tokio::test]
async fn query_strings_beyond_max_query_length_are_414() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| s.max_query_length = 1000).await;
    // The query string's length is counted as sent: `pad=` and 996 characters is 1,000.
    let query = |len: usize| format!("pad={}", "x".repeat(len - 4));
    let health = |q: String| app.client.get(app.url(&format!("/healthz?{q}"))).send();
    assert_eq!(health(query(1000)).await.unwrap().status(), 200);
    let (status, code, message) = error_of(health(query(1001)).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (414, "uri_too_long"));
    assert_eq!(
        message,
        "the query string is 1001 bytes long; at most 1000 are allowed"
    );
    // A QIDO search: percent-encoded bytes count as sent (each %41 is three).
    let search = |q: String| {
        app.client
            .get(app.url(&format!("/dicom-web/studies?{q}")))
            .send()
    };
    let encoded = format!("PatientID={}", "%41".repeat(330)); // 10 + 990
    assert_eq!(search(encoded).await.unwrap().status(), 200);
    let encoded = format!("PatientID={}*", "%41".repeat(330)); // 1,001
    let (status, code, _) = error_of(search(encoded).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (414, "uri_too_long"));
    // Beyond the header's own limit (32 KiB) too: still 414, not 431.
    let (status, _, message) = error_of(health(query(40_000)).await.unwrap()).await;
    assert_eq!(status, 414, "{message}");
}

/// An SR instance of its own study whose Content Sequence nests `levels` deep (explicit VR
/// little endian, undefined lengths), a code in the deepest item.
fn nested_instance(n: u32, levels: usize) -> (String, bytes::Bytes) {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let study = format!("2.25.1718.{n}");
    let base = Part10::new(SR, &format!("{study}.1.1"))
        .text(tags::STUDY_INSTANCE_UID, VR::UI, &study)
        .text(tags::SERIES_INSTANCE_UID, VR::UI, &format!("{study}.1"))
        .text(tags::PATIENT_ID, VR::LO, "NESTED")
        .build();
    let header = |tag: (u16, u16), len: u32| {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        if tag.0 != 0xFFFE {
            out.extend_from_slice(b"SQ\0\0");
        }
        out.extend_from_slice(&len.to_le_bytes());
        out
    };
    let mut file = base.to_vec();
    for _ in 0..levels {
        file.extend(header((0x0040, 0xA730), u32::MAX));
        file.extend(header((0xFFFE, 0xE000), u32::MAX));
    }
    file.extend_from_slice(&[0x08, 0x00, 0x00, 0x01, b'S', b'H', 4, 0]);
    file.extend_from_slice(b"CODE");
    for _ in 0..levels {
        file.extend(header((0xFFFE, 0xE00D), 0));
        file.extend(header((0xFFFE, 0xE0DD), 0));
    }
    (study, bytes::Bytes::from(file))
}

#[tokio::test]
async fn an_instance_nested_deeper_than_max_sequence_depth_fails_with_c000() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| s.max_sequence_depth = 5).await;
    let (study, at_limit) = nested_instance(1, 5);
    let stored = app.stow_one(&at_limit).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(instances_in(&app, &study).await, 1);
    let (study, deeper) = nested_instance(2, 6);
    let refused = app.stow_one(&deeper).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.failure_reasons(), [0xC000]);
    let warning = refused.warning.unwrap_or_default();
    assert!(
        warning.contains("C000: ")
            && warning.contains("sequences nested too deeply (more than 5 levels)"),
        "{warning}"
    );
    assert_eq!(instances_in(&app, &study).await, 0);
    assert_eq!(app.counts().await.2, 1);
}

/// At the deepest nesting any setting allows (128), an instance is stored and everything
/// that reads its metadata back works. Its DICOM JSON nests 3 levels per sequence, beyond
/// serde_json's default limit of 128: before, its XML metadata answered 500 and, with an
/// extra query attribute configured, the STOW itself answered 500 (A700 "index
/// unavailable"); the same from 42 levels on, within the default limit of 64.
#[tokio::test]
async fn an_instance_nested_as_deep_as_allowed_is_stored_and_its_metadata_read() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| {
        s.max_sequence_depth = 128;
        s.extra_query_attributes = vec!["instance:ContentDate".into()];
    })
    .await;
    let (study, deepest) = nested_instance(3, 128);
    let stored = app.stow_one(&deepest).await;
    assert_eq!(stored.status, 200, "{:?} {}", stored.warning, stored.body);
    let metadata = |accept: &'static str| {
        app.client
            .get(app.url(&format!("/dicom-web/studies/{study}/metadata")))
            .header("accept", accept)
            .send()
    };
    let json = metadata("application/dicom+json").await.unwrap();
    assert_eq!(json.status(), 200);
    let text = json.text().await.unwrap();
    let items = tessera_dicom::json::read_stored(&text).unwrap();
    assert!(items[0].get("0040A730").is_some());
    let xml = metadata("multipart/related; type=\"application/dicom+xml\"")
        .await
        .unwrap();
    assert_eq!(xml.status(), 200);
    assert!(xml.text().await.unwrap().contains("CODE"));
    let search = app
        .client
        .get(app.url(&format!(
            "/dicom-web/studies/{study}/instances?includefield=0040A730"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    let found = tessera_dicom::json::read_stored(&search.text().await.unwrap()).unwrap();
    assert!(found[0].get("0040A730").is_some(), "{found}");
    // One level more is refused.
    let (_, deeper) = nested_instance(4, 129);
    let refused = app.stow_one(&deeper).await;
    assert_eq!(refused.failure_reasons(), [0xC000]);
}
