//! Process metrics in the Prometheus text exposition format (version 0.0.4), served at
//! `GET /metrics`: requests per route family and status class with their latency and the
//! bytes they read and wrote, the latency of blob-store and index calls, frames served, the
//! frame cache, connections, shed requests and the FHIR push.
//!
//! Plain atomics: no registry, no labels chosen at run time, nothing to lock on the hot path;
//! histograms have fixed buckets ([`Histogram`]). Counters are per process; a scraper sums
//! them over nodes. This module imports nothing of the crate, so that the layers that record
//! into it (HTTP, storage, the index, services) never import one another for it.

mod family;
mod gauge;
mod histogram;
mod operation;
mod render;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use family::RouteFamily;
pub use gauge::Gauge;
pub use histogram::Histogram;
pub use operation::{BlobOp, IndexOp};

/// Status classes counted per family.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];
const FAMILIES: usize = RouteFamily::ALL.len();
const BLOB_OPS: usize = BlobOp::ALL.len();
const INDEX_OPS: usize = IndexOp::ALL.len();

/// Every counter of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 4]; FAMILIES],
    /// From the request reaching the router to the end of its answer's body.
    request_seconds: [Histogram; FAMILIES],
    /// Request body bytes read, as read.
    bytes_in: [AtomicU64; FAMILIES],
    /// Response body bytes handed to the connection (after compression), as sent.
    bytes_out: [AtomicU64; FAMILIES],
    blob_seconds: [Histogram; BLOB_OPS],
    index_seconds: [Histogram; INDEX_OPS],
    pub frames_served: AtomicU64,
    pub frame_bytes_served: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub images_rendered: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub cache_evictions: AtomicU64,
    pub cache_bytes: AtomicU64,
    pub cache_entries: AtomicU64,
    pub cache_capacity_bytes: AtomicU64,
    pub metadata_cache_hits: AtomicU64,
    pub metadata_cache_misses: AtomicU64,
    pub fhir_pushed: AtomicU64,
    pub fhir_push_retries: AtomicU64,
    pub fhir_push_rejected: AtomicU64,
    pub fhir_push_cursor: AtomicU64,
    pub fhir_push_lag: AtomicU64,
    /// When the oldest change-feed entry not yet pushed was made (microseconds since the Unix
    /// epoch); 0 when every entry is pushed. Rendered as an age.
    pub fhir_push_oldest_unsent_micros: AtomicU64,
    /// Requests answered 503 at once because too many were in progress.
    pub requests_shed: AtomicU64,
    pub requests_in_flight: AtomicU64,
    pub connections_open: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one answered request (when its answer's head is ready).
    pub fn request(&self, family: RouteFamily, status: u16) {
        let class = match status {
            0..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        if let Some(row) = self.requests.get(family.index()) {
            add(&row[class], 1);
        }
    }

    /// Requests counted so far for a family, all classes together.
    pub fn requests_of(&self, family: RouteFamily) -> u64 {
        self.requests
            .get(family.index())
            .map(|row| row.iter().map(|c| c.load(Ordering::Relaxed)).sum())
            .unwrap_or(0)
    }

    /// A request of `family` is over (its answer's body sent, or its client gone) after
    /// `elapsed`.
    pub fn request_done(&self, family: RouteFamily, elapsed: Duration) {
        self.request_seconds[family.index()].observe(elapsed);
    }

    /// `n` more bytes of a request body of `family` read.
    pub fn bytes_in(&self, family: RouteFamily, n: u64) {
        add(&self.bytes_in[family.index()], n);
    }

    /// `n` more bytes of a response body of `family` sent.
    pub fn bytes_out(&self, family: RouteFamily, n: u64) {
        add(&self.bytes_out[family.index()], n);
    }

    /// A blob-store call took `elapsed` (success or failure).
    pub fn blob(&self, op: BlobOp, elapsed: Duration) {
        self.blob_seconds[op.index()].observe(elapsed);
    }

    /// An index call took `elapsed` (success or failure).
    pub fn index(&self, op: IndexOp, elapsed: Duration) {
        self.index_seconds[op.index()].observe(elapsed);
    }

    pub fn frames(&self, count: u64, bytes: u64) {
        add(&self.frames_served, count);
        add(&self.frame_bytes_served, bytes);
    }

    pub fn inc(&self, counter: &AtomicU64) {
        add(counter, 1);
    }

    pub fn dec(&self, counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.request(RouteFamily::Frames, 200);
        m.request(RouteFamily::Frames, 404);
        m.request_done(RouteFamily::Frames, Duration::from_millis(3));
        m.bytes_in(RouteFamily::Stow, 1000);
        m.bytes_out(RouteFamily::Frames, 512);
        m.blob(BlobOp::GetRange, Duration::from_micros(700));
        m.index(IndexOp::Store, Duration::from_millis(20));
        m.inc(&m.cache_hits);
        let text = m.render();
        assert!(text.contains("tessera_http_requests_total{family=\"frames\",status=\"2xx\"} 1"));
        assert!(text.contains("tessera_http_requests_total{family=\"frames\",status=\"4xx\"} 1"));
        assert!(text.contains("tessera_frame_cache_hits_total 1\n"));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{family=\"frames\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_count{family=\"frames\"} 1\n"));
        assert!(text.contains("tessera_http_request_duration_seconds_count{family=\"stow\"} 0\n"));
        assert!(text.contains("tessera_http_request_bytes_total{family=\"stow\"} 1000\n"));
        assert!(text.contains("tessera_http_response_bytes_total{family=\"frames\"} 512\n"));
        assert!(text.contains(
            "tessera_blob_operation_duration_seconds_count{operation=\"get_range\"} 1\n"
        ));
        assert!(text
            .contains("tessera_index_operation_duration_seconds_count{operation=\"store\"} 1\n"));
        assert!(text.contains("tessera_fhir_push_oldest_unsent_seconds 0\n"));
        assert_eq!(m.requests_of(RouteFamily::Frames), 2);
        // Every family's name is declared once, before its samples.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
    }
}
