//! Storing the WADO workload's data over STOW-RS (`POST {url}/studies`): the CT series in
//! batches, the multi-frame instances (the 16-bit one, the ultrasound cine) one per request,
//! the MR series' ready-made files in batches, and the optional big study.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use super::stats::MIB;
use super::synth::Synth;
use super::wado_synth::MultiFrame;
use super::{multipart, stow};

/// How storing went.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub what: String,
    pub instances: u64,
    /// Sum of the Part 10 files' sizes (what a bit-exact retrieve returns).
    pub file_bytes: u64,
    pub requests: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub errors: usize,
    pub first_error: Option<String>,
}

impl Stored {
    pub fn print(&self) {
        println!(
            "stored {}: {} instances, {:.1} MB in {} request(s), {:.2} s = {:.1} MB/s{}",
            self.what,
            self.instances,
            self.file_bytes as f64 / MIB,
            self.requests,
            self.seconds,
            self.mb_per_s,
            self.first_error
                .as_deref()
                .map_or(String::new(), |e| format!(
                    ", {} error(s), first: {e}",
                    self.errors
                )),
        );
    }
}

/// Store instances `0..count` of `cell` (study `index / synth.slices`) in requests of `batch`
/// instances, `concurrency` requests in flight.
pub async fn series(
    client: &reqwest::Client,
    url: &str,
    synth: &Arc<Synth>,
    cell: u32,
    count: u64,
    batch: u64,
    concurrency: usize,
) -> Stored {
    let endpoint: Arc<str> = format!("{url}/studies").into();
    let requests = count.div_ceil(batch);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, endpoint, synth, next) = (
            client.clone(),
            endpoint.clone(),
            synth.clone(),
            next.clone(),
        );
        workers.spawn(async move {
            let mut errors = Vec::new();
            let mut file_bytes = 0;
            loop {
                let request = next.fetch_add(1, Ordering::Relaxed);
                if request >= requests {
                    break (file_bytes, errors);
                }
                let range = request * batch..((request + 1) * batch).min(count);
                for index in range.clone() {
                    match synth.instance(cell, index) {
                        Ok(instance) => file_bytes += instance.len() as u64,
                        Err(err) => errors.push(err),
                    }
                }
                match multipart::request(&synth, cell, range) {
                    Ok((chunks, len)) => {
                        let body = futures::stream::iter(chunks.into_iter().map(Ok));
                        let (_, error) = stow::post(&client, &endpoint, body, Some(len)).await;
                        errors.extend(error);
                    }
                    Err(err) => errors.push(err),
                }
            }
        });
    }
    let mut file_bytes = 0;
    let mut errors = Vec::new();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok((bytes, errs)) => {
                file_bytes += bytes;
                errors.extend(errs);
            }
            Err(err) => errors.push(format!("storing task failed: {err}")),
        }
    }
    finish("series", count, file_bytes, requests, start, errors)
}

/// Store whole Part 10 `files` in requests of `batch`, `concurrency` requests in flight.
pub async fn files(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    files: &[Bytes],
    batch: usize,
    concurrency: usize,
) -> Stored {
    use futures::stream::StreamExt;
    let endpoint = format!("{url}/studies");
    let file_bytes = files.iter().map(|f| f.len() as u64).sum();
    let start = Instant::now();
    let posts = files.chunks(batch.max(1)).map(|group| {
        let mut chunks = Vec::with_capacity(2 * group.len() + 1);
        for (i, file) in group.iter().enumerate() {
            chunks.push(Bytes::from(multipart::lead(i == 0)));
            chunks.push(file.clone());
        }
        chunks.push(multipart::closing());
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        let body = futures::stream::iter(chunks.into_iter().map(Ok));
        let (client, endpoint) = (client.clone(), endpoint.clone());
        async move { stow::post(&client, &endpoint, body, Some(len)).await.1 }
    });
    let errors: Vec<String> = futures::stream::iter(posts)
        .buffer_unordered(concurrency.max(1))
        .filter_map(|error| async move { error })
        .collect()
        .await;
    let requests = files.len().div_ceil(batch.max(1)) as u64;
    finish(
        what,
        files.len() as u64,
        file_bytes,
        requests,
        start,
        errors,
    )
}

/// Store the multi-frame instance in one request.
pub async fn multiframe(client: &reqwest::Client, url: &str, mf: &MultiFrame) -> Stored {
    let chunks: Vec<Bytes> = vec![
        Bytes::from(multipart::lead(true)),
        mf.file.clone(),
        multipart::closing(),
    ];
    let len = chunks.iter().map(|c| c.len() as u64).sum();
    let body = futures::stream::iter(chunks.into_iter().map(Ok));
    let start = Instant::now();
    let (_, error) = stow::post(client, &format!("{url}/studies"), body, Some(len)).await;
    let what = format!("multi-frame instance ({} frames)", mf.frames);
    let errors = error.into_iter().collect();
    finish(&what, 1, mf.file.len() as u64, 1, start, errors)
}

fn finish(
    what: &str,
    instances: u64,
    file_bytes: u64,
    requests: u64,
    start: Instant,
    errors: Vec<String>,
) -> Stored {
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Stored {
        what: what.to_string(),
        instances,
        file_bytes,
        requests,
        seconds,
        mb_per_s: file_bytes as f64 / MIB / seconds,
        errors: errors.len(),
        first_error: errors.into_iter().next(),
    }
}
