//! Export jobs over HTTP (`/jobs`): accepted with 202 and a URL, run by the server into an
//! object-store prefix byte for byte, reported by any node, failed instances listed, refused
//! requests explained, cancelled at once, and resumed after the node running it stopped.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection};
use tessera::storage::{BlobKey, BlobStore};

use crate::helpers::*;
use crate::operations::command_records;

const FILES: [&str; 3] = ["CT_small.dcm", "MR_small.dcm", "SC_rgb_rle_2frame.dcm"];

/// (study, series, sop, bytes) of each file stored.
async fn store(app: &TestApp) -> Vec<(String, String, String, Bytes)> {
    let mut out = Vec::new();
    for name in FILES {
        let bytes = read_testdata(name);
        let result = app.stow_one(&bytes).await;
        assert_eq!(result.status, 200, "{name}");
        let sop = result.referenced()[0]["00081155"]["Value"][0]
            .as_str()
            .unwrap()
            .to_string();
        let uid = tessera_dicom::uid::SopInstanceUid::parse(&sop).unwrap();
        let row = app.state.index.instance(&uid).await.unwrap().unwrap();
        out.push((row.study_uid, row.series_uid, sop, bytes));
    }
    out
}

async fn post(app: &TestApp, body: Value) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(app.url("/jobs/export"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, location, body)
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body)
}

/// Poll the job until its state is one of `states`.
async fn wait_for(app: &TestApp, location: &str, states: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = get_json(app, location).await;
        assert_eq!(status, 200, "{job}");
        if states.contains(&job["state"].as_str().unwrap()) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job not {states:?} within a minute: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn name(study: &str, series: &str, sop: &str) -> BlobKey {
    BlobKey::from_stored(format!("{study}/{series}/{sop}.dcm"))
}

backend_tests! {
    // The job store's claim, report and finish on both databases.
    [sqlite_local, postgres_local] => [an_export_job_runs_reports_lists_failures_and_resumes];
}

async fn an_export_job_runs_reports_lists_failures_and_resumes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = store(&app).await;
    let bucket_url = fresh_s3_url();
    let bucket = BlobStore::from_url(&bucket_url, false).unwrap();

    // Two studies out to an S3 prefix.
    let (status, location, job) = post(
        &app,
        json!({"studies": [stored[0].0, stored[1].0], "to": bucket_url}),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let location = location.expect("a Location header");
    assert_eq!(location, format!("/jobs/{}", job["id"].as_str().unwrap()));
    assert_eq!(job["state"], "queued");
    assert_eq!(job["total"], 2);
    // The destination is shown without its query string (it may hold credentials).
    assert!(!job["request"]["to"].as_str().unwrap().contains('?'));
    let done = wait_for(&app, &location, &["completed", "failed"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(
        (done["done"].as_u64(), done["failed"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        done["bytes"].as_u64().unwrap(),
        (stored[0].3.len() + stored[1].3.len()) as u64
    );
    for (study, series, sop, bytes) in &stored[..2] {
        let got = bucket.get(&name(study, series, sop)).await.unwrap();
        assert!(got == *bytes, "{sop} differs in the bucket");
    }
    assert!(bucket
        .get(&name(&stored[2].0, &stored[2].1, &stored[2].2))
        .await
        .is_err());
    let (status, errors) = get_json(&app, &format!("{location}/errors")).await;
    assert_eq!((status, errors.clone()), (200, json!([])));

    // A job with an instance whose blob is gone: failed, and the error log says which.
    let row = app
        .state
        .index
        .instance(&tessera_dicom::uid::SopInstanceUid::parse(&stored[2].2).unwrap())
        .await
        .unwrap()
        .unwrap();
    app.state.store.delete(&row.blob_key).await.unwrap();
    let (status, second, _) = post(
        &app,
        json!({"series": [stored[2].1], "studies": [stored[0].0], "to": bucket_url}),
    )
    .await;
    assert_eq!(status, 202);
    let second = second.unwrap();
    let ended = wait_for(&app, &second, &["completed", "failed"]).await;
    assert_eq!(ended["state"], "failed", "{ended}");
    assert_eq!(
        (ended["done"].as_u64(), ended["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let (_, errors) = get_json(&app, &format!("{second}/errors")).await;
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["SOPInstanceUID"], stored[2].2);
    assert!(
        errors[0]["message"].as_str().unwrap().contains("missing"),
        "{errors}"
    );

    // Refusals, with their reasons.
    for (body, words) in [
        (json!({"to": bucket_url}), "say what to export"),
        (
            json!({"studies": ["1.2.3.4.5.6.7.8"], "to": bucket_url}),
            "no such study",
        ),
        (
            json!({"studies": [stored[0].0], "to": "/tmp/folder"}),
            "not a destination a job can write",
        ),
        (
            json!({"studies": [stored[0].0], "to": "x.zip"}),
            "not a destination a job can write",
        ),
        (
            json!({"studies": [stored[0].0], "to": bucket_url, "token": "t"}),
            "unknown field",
        ),
        (
            json!({"studies": ["not a uid"], "to": bucket_url}),
            "has characters other than digits and dots",
        ),
    ] {
        let (status, _, answer) = post(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(words),
            "{body}: {answer}"
        );
    }
    assert_eq!(get_json(&app, "/jobs/nothex").await.0, 400);
    assert_eq!(get_json(&app, &format!("/jobs/{:032x}", 7)).await.0, 404);

    // The node running a job stops (its lease left to run out, as after a crash), and the
    // restarted node takes the job and finishes it: what was there is skipped.
    let first_id = location.trim_start_matches("/jobs/").to_string();
    let settings = app.settings.clone();
    let dir = app.dir.clone();
    app.stop().await;
    let mut conn = {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(&settings.database_url())
            .await
            .unwrap()
    };
    sqlx::query(
        "UPDATE jobs SET state = 'running', holder = 'node-gone', lease_until = 1, done = 0, \
         bytes = 0 WHERE id = $1",
    )
    .bind(&first_id)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    bucket
        .delete(&name(&stored[1].0, &stored[1].1, &stored[1].2))
        .await
        .unwrap();
    let app = TestApp::start(settings.clone(), dir.clone()).await;
    let resumed = wait_for(&app, &location, &["completed", "failed"]).await;
    assert_eq!(resumed["state"], "completed", "{resumed}");
    assert_eq!(resumed["done"], 2);
    let got = bucket
        .get(&name(&stored[1].0, &stored[1].1, &stored[1].2))
        .await
        .unwrap();
    assert!(got == stored[1].3, "the resumed job wrote it again, whole");

    // The audit trail: what left, by job, and the requests.
    let records = command_records(&settings, "export job").await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|r| r.0 == "110106" && r.1 == "R"));
    assert!(records[0].2.contains(&stored[0].0), "{records:?}");
    let posts = command_records(&settings, "POST").await;
    assert!(
        posts.iter().filter(|r| r.0 == "110106").count() >= 2,
        "{posts:?}"
    );
    app.stop().await;
}

/// A STOW-RS destination that accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{address}/dicom-web"), task)
}

#[tokio::test]
async fn a_running_job_is_cancelled_at_once() {
    let app = TestApp::spawn(Backend::SQLITE_MEMORY).await;
    let stored = store(&app).await;
    let (to, hole) = black_hole().await;
    let (status, location, _) = post(&app, json!({"studies": [stored[0].0], "to": to})).await;
    assert_eq!(status, 202);
    let location = location.unwrap();
    wait_for(&app, &location, &["running"]).await;
    // Stuck in a request that is never answered; a cancel still ends it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(job["cancelRequested"], true, "{job}");
    let started = Instant::now();
    let ended = wait_for(&app, &location, &["cancelled", "completed", "failed"]).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Cancelling a finished job changes nothing.
    let again = app.client.delete(app.url(&location)).send().await.unwrap();
    let again: Value = serde_json::from_slice(&again.bytes().await.unwrap()).unwrap();
    assert_eq!(again["state"], "cancelled");
    hole.abort();
    app.stop().await;
}
