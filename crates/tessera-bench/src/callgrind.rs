//! One hot-path operation run in-process, for instruction counts under valgrind's callgrind
//! (`scripts/bench/callgrind.sh`): a Tessera on SQLite + local disk in a temporary folder, driven
//! through its router without sockets, so the counts depend on the code and not on the
//! machine's load. The setup (migrations, the data the operation needs) is the same for
//! `repeat` 0 and N, so (count(N) - count(0)) / N is the cost of one operation.

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::ValueEnum;
use tower::ServiceExt;

use super::multipart;
use super::synth::Synth;
use crate::error::BenchError;
use tessera::app::Application;
use tessera::config::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// STOW-RS of one 512x512 16-bit CT instance.
    Ingest,
    /// QIDO-RS `/studies?StudyInstanceUID=...` over 50 stored studies.
    Qido,
    /// WADO-RS frame 1 of a stored CT instance.
    Frame,
}

/// Fixed, so every run sends the same bytes.
const UID_ROOT: &str = "2.25.4242424242";
const SIZE: u16 = 512;
const SETUP_STUDIES: u64 = 50;

pub async fn run(op: Op, repeat: u32) -> Result<(), BenchError> {
    let dir = std::env::temp_dir().join(format!("tessera-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::Failed(format!("{}: {e}", dir.display())))?;
    let result = run_in(&dir, op, repeat).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(dir: &Path, op: Op, repeat: u32) -> Result<(), BenchError> {
    let settings =
        Settings::for_data_dir(dir).map_err(|e| BenchError::Failed(format!("settings: {e}")))?;
    let app = Application::build(settings).await?;
    let router = tessera::http::router(app.state().clone());
    let mut synth = Synth::new(SIZE, 1, 1);
    synth.uid_root = UID_ROOT.to_string();
    // Setup: one CT instance per study (cell 1, index i = study i), for QIDO and frames.
    let setup = if op == Op::Ingest { 0 } else { SETUP_STUDIES };
    for index in 0..setup {
        stow(&router, &synth, 1, index).await?;
    }
    for round in 0..u64::from(repeat) {
        let (method, uri, body) = match op {
            Op::Ingest => {
                stow(&router, &synth, 2, round).await?;
                continue;
            }
            Op::Qido => {
                let uri = format!(
                    "/dicom-web/studies?StudyInstanceUID={}",
                    synth.study_uid(1, round % setup)
                );
                ("GET", uri, Body::empty())
            }
            Op::Frame => {
                let index = round % setup;
                let uri = format!(
                    "/dicom-web/studies/{}/series/{}/instances/{}/frames/1",
                    synth.study_uid(1, index),
                    synth.series_uid(1, index),
                    synth.sop_uid(1, index)
                );
                ("GET", uri, Body::empty())
            }
        };
        let accept = if op == Op::Frame {
            "multipart/related; type=application/octet-stream; transfer-syntax=*"
        } else {
            "application/dicom+json"
        };
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("accept", accept)
            .body(body)
            .map_err(|e| BenchError::Failed(e.to_string()))?;
        send(&router, request).await?;
    }
    Ok(())
}

async fn stow(
    router: &axum::Router,
    synth: &Synth,
    cell: u32,
    index: u64,
) -> Result<(), BenchError> {
    let (chunks, _) =
        multipart::request(synth, cell, index..index + 1).map_err(BenchError::Failed)?;
    let mut body = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
    for chunk in &chunks {
        body.extend_from_slice(chunk);
    }
    let request = Request::builder()
        .method("POST")
        .uri("/dicom-web/studies")
        .header("content-type", multipart::content_type())
        .header("accept", "application/dicom+json")
        .body(Body::from(body))
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    send(router, request).await
}

/// Send one request and read the whole answer; anything but 200 is an error.
async fn send(router: &axum::Router, request: Request<Body>) -> Result<(), BenchError> {
    let uri = request.uri().to_string();
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| BenchError::Failed(format!("{uri}: {e}")))?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| BenchError::Failed(format!("{uri}: {e}")))?;
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
        return Err(BenchError::Failed(format!("{uri}: HTTP {status}: {text}")));
    }
    Ok(())
}
