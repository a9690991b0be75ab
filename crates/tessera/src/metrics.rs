//! Process metrics in the Prometheus text exposition format (version 0.0.4), served at
//! `GET /metrics`: requests per route family and status class, frames and bytes served,
//! and the frame cache's hits, misses, evictions and size.
//!
//! Plain atomic counters: no registry, no labels chosen at run time, nothing to lock on the
//! hot path. Counters are per process; a scraper sums them over nodes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which part of the API a request went to (the `family` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteFamily {
    Stow,
    Qido,
    Retrieve,
    Metadata,
    Bulkdata,
    Frames,
    Rendered,
    Thumbnail,
    Delete,
    ChangeFeed,
    Fhir,
    Health,
    Metrics,
    Other,
}

impl RouteFamily {
    const ALL: [RouteFamily; 14] = [
        RouteFamily::Stow,
        RouteFamily::Qido,
        RouteFamily::Retrieve,
        RouteFamily::Metadata,
        RouteFamily::Bulkdata,
        RouteFamily::Frames,
        RouteFamily::Rendered,
        RouteFamily::Thumbnail,
        RouteFamily::Delete,
        RouteFamily::ChangeFeed,
        RouteFamily::Fhir,
        RouteFamily::Health,
        RouteFamily::Metrics,
        RouteFamily::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RouteFamily::Stow => "stow",
            RouteFamily::Qido => "qido",
            RouteFamily::Retrieve => "retrieve",
            RouteFamily::Metadata => "metadata",
            RouteFamily::Bulkdata => "bulkdata",
            RouteFamily::Frames => "frames",
            RouteFamily::Rendered => "rendered",
            RouteFamily::Thumbnail => "thumbnail",
            RouteFamily::Delete => "delete",
            RouteFamily::ChangeFeed => "changefeed",
            RouteFamily::Fhir => "fhir",
            RouteFamily::Health => "health",
            RouteFamily::Metrics => "metrics",
            RouteFamily::Other => "other",
        }
    }

    /// Classify a request by method and path (no routing table needed: the DICOMweb paths
    /// say what they are by their last segments).
    pub fn classify(method: &str, path: &str) -> RouteFamily {
        let path = path.trim_end_matches('/');
        if path == "/healthz" {
            return RouteFamily::Health;
        }
        if path == "/metrics" {
            return RouteFamily::Metrics;
        }
        if path == "/fhir" || path.starts_with("/fhir/") {
            return RouteFamily::Fhir;
        }
        let Some(rest) = path.strip_prefix("/dicom-web") else {
            return RouteFamily::Other;
        };
        if method == "POST" {
            return RouteFamily::Stow;
        }
        if method == "DELETE" {
            return RouteFamily::Delete;
        }
        if rest == "/changefeed" || rest.starts_with("/changefeed/") {
            return RouteFamily::ChangeFeed;
        }
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let last = segments.last().copied().unwrap_or_default();
        let before_last = segments
            .len()
            .checked_sub(2)
            .and_then(|i| segments.get(i))
            .copied();
        match last {
            "rendered" => RouteFamily::Rendered,
            "thumbnail" => RouteFamily::Thumbnail,
            "metadata" => RouteFamily::Metadata,
            "studies" | "series" | "instances" => RouteFamily::Qido,
            _ if before_last == Some("frames") => RouteFamily::Frames,
            _ if segments.contains(&"bulkdata") => RouteFamily::Bulkdata,
            _ if segments.first() == Some(&"studies") => RouteFamily::Retrieve,
            _ => RouteFamily::Other,
        }
    }

    fn index(self) -> usize {
        RouteFamily::ALL
            .iter()
            .position(|f| *f == self)
            .unwrap_or(RouteFamily::ALL.len() - 1)
    }
}

/// Status classes counted per family.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];
const FAMILIES: usize = RouteFamily::ALL.len();

/// Every counter of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 4]; FAMILIES],
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
    pub fhir_pushed: AtomicU64,
    pub fhir_push_retries: AtomicU64,
    pub fhir_push_rejected: AtomicU64,
    pub fhir_push_cursor: AtomicU64,
    pub fhir_push_lag: AtomicU64,
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

    /// Count one answered request.
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

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP tessera_http_requests_total HTTP requests answered, by route family and status class.\n");
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        for family in RouteFamily::ALL {
            for (class, name) in CLASSES.iter().enumerate() {
                let value = self.requests[family.index()][class].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "tessera_http_requests_total{{family=\"{}\",status=\"{name}\"}} {value}",
                    family.name()
                );
            }
        }
        let scalars: [(&str, &str, &str, &AtomicU64); 18] = [
            (
                "tessera_http_requests_shed_total",
                "counter",
                "Requests answered 503 at once because max_concurrent_requests were in progress.",
                &self.requests_shed,
            ),
            (
                "tessera_http_requests_in_flight",
                "gauge",
                "Requests in progress (counted against max_concurrent_requests).",
                &self.requests_in_flight,
            ),
            (
                "tessera_http_connections_open",
                "gauge",
                "HTTP connections open (counted against max_connections).",
                &self.connections_open,
            ),
            (
                "tessera_frames_served_total",
                "counter",
                "WADO-RS frames returned (each frame of a multipart answer counts).",
                &self.frames_served,
            ),
            (
                "tessera_frame_bytes_served_total",
                "counter",
                "Payload bytes of the frames returned.",
                &self.frame_bytes_served,
            ),
            (
                "tessera_frames_decoded_total",
                "counter",
                "Frames decoded from a compressed or non-little-endian encoding.",
                &self.frames_decoded,
            ),
            (
                "tessera_images_rendered_total",
                "counter",
                "Rendered images and thumbnails produced.",
                &self.images_rendered,
            ),
            (
                "tessera_frame_cache_hits_total",
                "counter",
                "Frame cache lookups answered from memory.",
                &self.cache_hits,
            ),
            (
                "tessera_frame_cache_misses_total",
                "counter",
                "Frame cache lookups that had to read the blob store or decode.",
                &self.cache_misses,
            ),
            (
                "tessera_frame_cache_evictions_total",
                "counter",
                "Entries evicted from the frame cache to stay within its size.",
                &self.cache_evictions,
            ),
            (
                "tessera_frame_cache_bytes",
                "gauge",
                "Bytes held by the frame cache.",
                &self.cache_bytes,
            ),
            (
                "tessera_frame_cache_entries",
                "gauge",
                "Entries held by the frame cache.",
                &self.cache_entries,
            ),
            (
                "tessera_frame_cache_capacity_bytes",
                "gauge",
                "Configured size of the frame cache (frame_cache_bytes).",
                &self.cache_capacity_bytes,
            ),
            (
                "tessera_fhir_pushed_total",
                "counter",
                "Studies sent to the FHIR server (ImagingStudy updated or deleted there).",
                &self.fhir_pushed,
            ),
            (
                "tessera_fhir_push_retries_total",
                "counter",
                "FHIR pushes that failed for a passing reason (server down, 5xx, 429) and wait to be retried.",
                &self.fhir_push_retries,
            ),
            (
                "tessera_fhir_push_rejected_total",
                "counter",
                "FHIR pushes the server refused for good (4xx); see the log for its OperationOutcome.",
                &self.fhir_push_rejected,
            ),
            (
                "tessera_fhir_push_cursor",
                "gauge",
                "Change-feed sequence number up to which the FHIR server is current.",
                &self.fhir_push_cursor,
            ),
            (
                "tessera_fhir_push_lag",
                "gauge",
                "Change-feed entries not yet pushed to the FHIR server.",
                &self.fhir_push_lag,
            ),
        ];
        for (name, kind, help, value) in scalars {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// One up on a gauge of `metrics` while it lives (also when the request is dropped half-way
/// because its client went away).
pub struct Gauge<'a> {
    metrics: &'a Metrics,
    gauge: fn(&Metrics) -> &AtomicU64,
}

impl<'a> Gauge<'a> {
    pub fn up(metrics: &'a Metrics, gauge: fn(&Metrics) -> &AtomicU64) -> Self {
        metrics.inc(gauge(metrics));
        Gauge { metrics, gauge }
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.metrics.dec((self.gauge)(self.metrics));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_dicomweb_paths() {
        let s = "/dicom-web/studies/1.2/series/3.4/instances/5.6";
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/frames/1,2")),
            RouteFamily::Frames
        );
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/frames/1/rendered")),
            RouteFamily::Rendered
        );
        assert_eq!(
            RouteFamily::classify("GET", "/dicom-web/studies/1.2/thumbnail"),
            RouteFamily::Thumbnail
        );
        assert_eq!(
            RouteFamily::classify("GET", "/dicom-web/studies"),
            RouteFamily::Qido
        );
        assert_eq!(
            RouteFamily::classify("POST", "/dicom-web/studies"),
            RouteFamily::Stow
        );
        assert_eq!(RouteFamily::classify("GET", s), RouteFamily::Retrieve);
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/metadata")),
            RouteFamily::Metadata
        );
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/bulkdata/7FE00010")),
            RouteFamily::Bulkdata
        );
        assert_eq!(
            RouteFamily::classify("GET", "/healthz"),
            RouteFamily::Health
        );
        assert_eq!(RouteFamily::classify("GET", "/x"), RouteFamily::Other);
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.request(RouteFamily::Frames, 200);
        m.request(RouteFamily::Frames, 404);
        m.inc(&m.cache_hits);
        let text = m.render();
        assert!(text.contains("tessera_http_requests_total{family=\"frames\",status=\"2xx\"} 1"));
        assert!(text.contains("tessera_http_requests_total{family=\"frames\",status=\"4xx\"} 1"));
        assert!(text.contains("tessera_frame_cache_hits_total 1\n"));
        assert_eq!(m.requests_of(RouteFamily::Frames), 2);
    }
}
