//! The streaming-memory check: one STOW request of about N MiB, generated while it is sent
//! (chunked transfer, never held whole), to see whether the server streams it too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;

use super::stats::{BigReport, MIB};
use super::synth::Synth;
use super::{multipart, rss, stow};
use crate::plan::Plan;

pub async fn run(
    client: &reqwest::Client,
    plan: &Plan,
    synth: &Arc<Synth>,
    cell: u32,
) -> BigReport {
    let target = plan.big_request_mb.saturating_mul(1 << 20);
    let per_instance = match synth.instance(cell, 0) {
        Ok(instance) => instance.len() as u64,
        Err(err) => return failed(err),
    };
    let count = target.div_ceil(per_instance).max(1);
    let endpoint = format!("{}/studies", plan.url);
    eprintln!(
        "bench: one streamed request of {count} instances (~{:.0} MB) ...",
        (count * per_instance) as f64 / MIB
    );
    let watch = plan.server_pid.and_then(rss::Watch::start);
    let client_before = rss::read(None);
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let body = multipart::streamed(synth.clone(), cell, count).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    });
    let (latency, error) = stow::post(client, &endpoint, body, None).await;
    let client_after = rss::read(None);
    let server = match watch {
        Some(watch) => watch.finish().await,
        None => None,
    };
    let bytes = sent.load(Ordering::Relaxed);
    let seconds = latency.as_secs_f64().max(1e-9);
    BigReport {
        instances: count,
        bytes,
        seconds,
        mb_per_s: bytes as f64 / MIB / seconds,
        error,
        client_cpu_s: rss::cpu_seconds(client_before, client_after),
        client_hwm_mb: client_after.map(|s| rss::kb_to_mib(s.hwm_kb)),
        server,
    }
}

fn failed(error: String) -> BigReport {
    BigReport {
        instances: 0,
        bytes: 0,
        seconds: 0.0,
        mb_per_s: 0.0,
        error: Some(error),
        client_cpu_s: None,
        client_hwm_mb: None,
        server: None,
    }
}
