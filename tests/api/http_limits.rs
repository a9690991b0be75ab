//! The HTTP port against slow, abandoned, oversized and too many requests (issue 17): each
//! is cut off by its limit with the right answer, leaves nothing behind, and never stops the
//! server from answering others. Raw TCP where a real client would not misbehave on purpose.

use std::time::{Duration, Instant};

use tessera::config::ByteSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{read_testdata, Backend, TestApp};

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
    // A 40 KB query string is part of the header too.
    let query = format!("{url}?PatientID={}", "1".repeat(40 * 1024));
    assert_eq!(app.client.get(&query).send().await.unwrap().status(), 431);
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
