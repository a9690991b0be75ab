//! Idle HTTP/2 connections (issue 17): a connection that answers its keep-alive pings but
//! carries no stream is closed (GOAWAY) once it has been idle for the header timeout, as an
//! idle HTTP/1 connection is; a connection whose answer is still being sent is not. An
//! HTTP/2 client with prior knowledge, over plain TCP (hyper's, which answers pings).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp};
use crate::synthetic::MultiFrame;

/// The idle timeout of these tests (`http_header_timeout`, seconds).
const IDLE: u64 = 2;
/// What a loaded machine may add to it.
const SLACK: Duration = Duration::from_secs(3);

/// An HTTP/2 connection to `app` whose streams are given `window` bytes before the client
/// reads them; the task driving it ends when the connection closes.
async fn connect(
    app: &TestApp,
    window: u32,
) -> (
    SendRequest<Empty<Bytes>>,
    JoinHandle<Result<(), hyper::Error>>,
) {
    let stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .initial_stream_window_size(window)
        .adaptive_window(false)
        .handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/2 handshake with prior knowledge");
    (sender, tokio::spawn(connection))
}

fn get(app: &TestApp, path: &str, accept: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(app.url(path))
        .header("accept", accept)
        .body(Empty::new())
        .unwrap()
}

/// Wait for the connection to be closed by the server, for at most `limit`; how long it took.
async fn closed_within(
    connection: JoinHandle<Result<(), hyper::Error>>,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    let ended = tokio::time::timeout(limit, connection)
        .await
        .unwrap_or_else(|_| panic!("the idle HTTP/2 connection was still open after {limit:?}"));
    ended
        .unwrap()
        .expect("the connection ends cleanly (GOAWAY), not with an error");
    started.elapsed()
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| s.http_header_timeout = IDLE).await;
    let (mut sender, connection) = connect(&app, 65_535).await;
    let response = sender
        .send_request(get(&app, "/healthz", "application/json"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"{"), "{body:?}");

    // Nothing more is sent; the server's pings (every IDLE seconds) are answered meanwhile.
    let took = closed_within(connection, Duration::from_secs(IDLE) + SLACK).await;
    assert!(
        took >= Duration::from_millis(IDLE * 1000 - 500),
        "closed after {took:?}, before the idle timeout of {IDLE} s"
    );
    println!("idle HTTP/2 connection closed {took:.2?} after its last answer");
    assert!(sender.is_closed());
    // The server serves new connections all along.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_http2_connection_sending_an_answer_is_not_closed_as_idle() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| s.http_header_timeout = IDLE).await;
    // 4 frames of 128 x 128 x 2 bytes: far more than the 16 KiB the client lets come unread.
    let instance = MultiFrame::new(52, 128, 4);
    let stored = app.stow_one(&instance.file).await;
    assert_eq!(stored.status, 200);

    let (mut sender, mut connection) = connect(&app, 16 * 1024).await;
    let path = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        instance.study_uid, instance.series_uid, instance.sop_uid
    );
    let response = sender
        .send_request(get(&app, &path, "application/dicom; transfer-syntax=*"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The answer waits for the client to read on: its stream stays open for three idle
    // timeouts, and the connection with it.
    let wait = Duration::from_secs(3 * IDLE);
    assert!(
        tokio::time::timeout(wait, &mut connection).await.is_err(),
        "the connection was closed while its answer was being sent"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, instance.file, "the answer arrives whole");

    // Never told to go away: the connection takes another request.
    let response = sender
        .send_request(get(&app, "/healthz", "application/json"))
        .await
        .expect("a second request on the connection");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    // Idle from now on: closed after the timeout.
    let took = closed_within(connection, Duration::from_secs(IDLE) + SLACK).await;
    assert!(
        took >= Duration::from_millis(IDLE * 1000 - 500),
        "closed after {took:?}, before the idle timeout of {IDLE} s"
    );
}
