//! Whole-study retrieve (`GET /studies/{s}`, as stored), streamed and counted part by part,
//! never held; and the big-study memory check: a study of about N MiB stored in batches of
//! 100, retrieved once while the server's RSS is sampled every 50 ms.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::rss::{self, Timeline};
use super::stats::MIB;
use super::synth::Synth;
use super::wado_get::{self, Check, Job, Row, STUDY};
use super::wado_store::{self, Stored};

const TIMEOUT: Duration = Duration::from_secs(1800);
const RSS_EVERY: Duration = Duration::from_millis(50);
const BIG_BATCH: u64 = 100;
const BIG_CONCURRENCY: usize = 2;

/// Retrieve study `study` once: `parts` instances totalling `bytes` (the stored files).
pub async fn retrieve(
    client: &reqwest::Client,
    url: &str,
    study: &str,
    (parts, bytes): (usize, u64),
    item: &str,
    server_pid: Option<u32>,
) -> Row {
    let job = Job {
        url: format!("{url}/studies/{study}"),
        accept: STUDY,
        check: Check::Count { parts, bytes },
    };
    let (row, _) = wado_get::load(client, item, Arc::new(vec![job]), 1, server_pid, TIMEOUT).await;
    row
}

#[derive(Debug, Clone, Serialize)]
pub struct BigStudy {
    pub stored: Stored,
    pub retrieve: Row,
    pub server_rss_start_mb: Option<f64>,
    pub server_rss_peak_mb: Option<f64>,
    pub server_rss_end_mb: Option<f64>,
    /// (seconds, MB) every 50 ms during the retrieve.
    pub server_rss_samples: Vec<(f64, f64)>,
    pub client_rss_start_mb: Option<f64>,
    pub client_rss_peak_mb: Option<f64>,
}

impl BigStudy {
    pub fn errors(&self) -> usize {
        self.stored.errors + self.retrieve.errors
    }
}

pub async fn big(
    client: &reqwest::Client,
    url: &str,
    megabytes: u64,
    image_size: u16,
    seed: u64,
    server_pid: Option<u32>,
) -> Result<BigStudy, String> {
    let probe = Synth::new(image_size, 1, seed).instance(1, 0)?.len() as u64;
    let count = (megabytes * (1 << 20)).div_ceil(probe).max(1);
    let slices = u32::try_from(count).map_err(|_| "--wado-big-study-mb is too large")?;
    let synth = Arc::new(Synth::new(image_size, slices, seed));
    eprintln!("bench: storing a big study of {count} instances (~{megabytes} MB) ...");
    let mut stored =
        wado_store::series(client, url, &synth, 1, count, BIG_BATCH, BIG_CONCURRENCY).await;
    stored.what = format!("big study ({BIG_BATCH} per request)");
    stored.print();
    let study = synth.study_uid(1, 0);
    eprintln!("bench: retrieving the big study ...");
    let server = server_pid.map(|pid| Timeline::start(Some(pid), RSS_EVERY));
    let this = Timeline::start(None, RSS_EVERY);
    let expect = (count as usize, stored.file_bytes);
    let retrieve = retrieve(
        client,
        url,
        &study,
        expect,
        "big study retrieve",
        server_pid,
    )
    .await;
    let this = this.finish().await;
    let server = match server {
        Some(timeline) => timeline.finish().await,
        None => Vec::new(),
    };
    let mb = |kb: u64| rss::kb_to_mib(kb);
    let peak = |samples: &[(f64, u64)]| samples.iter().map(|s| s.1).max().map(mb);
    Ok(BigStudy {
        server_rss_start_mb: server.first().map(|s| mb(s.1)),
        server_rss_peak_mb: peak(&server),
        server_rss_end_mb: server.last().map(|s| mb(s.1)),
        server_rss_samples: server.iter().map(|&(t, kb)| (t, mb(kb))).collect(),
        client_rss_start_mb: this.first().map(|s| mb(s.1)),
        client_rss_peak_mb: peak(&this),
        stored,
        retrieve,
    })
}

pub fn print_big(big: &BigStudy) {
    let r = &big.retrieve;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    println!(
        "big study retrieve: {:.1} MB in {:.2} s = {:.1} MB/s, first byte {:.1} ms, {}",
        r.bytes_per_request / MIB,
        r.seconds,
        r.mb_per_s,
        r.first_byte_p50_ms,
        r.first_error.as_deref().unwrap_or("ok"),
    );
    println!(
        "  server RSS every 50 ms ({} samples): start {} MB, peak {} MB, end {} MB; \
         bench process RSS {} -> peak {} MB",
        big.server_rss_samples.len(),
        opt(big.server_rss_start_mb),
        opt(big.server_rss_peak_mb),
        opt(big.server_rss_end_mb),
        opt(big.client_rss_start_mb),
        opt(big.client_rss_peak_mb),
    );
}
