//! The Prometheus text exposition (format 0.0.4) of [`Metrics`]: each metric's HELP and TYPE
//! once, then its samples.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{BlobOp, IndexOp, Metrics, RouteFamily, CLASSES};

fn declare(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        declare(
            &mut out,
            "tessera_http_requests_total",
            "counter",
            "HTTP requests answered, by route family and status class.",
        );
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
        self.render_http(&mut out);
        self.render_operations(&mut out);
        let scalars: [(&str, &str, &str, &AtomicU64); 20] = [
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
                "tessera_metadata_cache_hits_total",
                "counter",
                "WADO-RS metadata documents answered from the metadata cache.",
                &self.metadata_cache_hits,
            ),
            (
                "tessera_metadata_cache_misses_total",
                "counter",
                "WADO-RS metadata documents assembled because the cache did not hold them.",
                &self.metadata_cache_misses,
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
            declare(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        declare(
            &mut out,
            "tessera_fhir_push_oldest_unsent_seconds",
            "gauge",
            "Age of the oldest change-feed entry not yet pushed to the FHIR server (0 when none; \
             kept by the node holding the push lease).",
        );
        let oldest = self.fhir_push_oldest_unsent_micros.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tessera_fhir_push_oldest_unsent_seconds {}",
            age_seconds(oldest, SystemTime::now())
        );
        out
    }

    /// Latency and bytes of HTTP requests per route family.
    fn render_http(&self, out: &mut String) {
        let name = "tessera_http_request_duration_seconds";
        declare(
            out,
            name,
            "histogram",
            "Time from a request reaching the router to the last byte of its answer's body \
             handed to the connection (or its client going away), by route family.",
        );
        for family in RouteFamily::ALL {
            let labels = format!("family=\"{}\"", family.name());
            self.request_seconds[family.index()].render(out, name, &labels);
        }
        let counters = [
            (
                "tessera_http_request_bytes_total",
                "Request body bytes read, by route family (counted as read: a body left unread \
                 is not counted).",
                &self.bytes_in,
            ),
            (
                "tessera_http_response_bytes_total",
                "Response body bytes sent, by route family (after compression; counted as \
                 sent: an answer cut short counts what went out).",
                &self.bytes_out,
            ),
        ];
        for (name, help, values) in counters {
            declare(out, name, "counter", help);
            for family in RouteFamily::ALL {
                let value = values[family.index()].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{family=\"{}\"}} {value}", family.name());
            }
        }
    }

    /// Latency of blob-store and index calls per operation.
    fn render_operations(&self, out: &mut String) {
        let name = "tessera_blob_operation_duration_seconds";
        declare(
            out,
            name,
            "histogram",
            "Blob-store calls by operation, failures included (open_stream: until the object \
             is open, not until it is read).",
        );
        for op in BlobOp::ALL {
            let labels = format!("operation=\"{}\"", op.name());
            self.blob_seconds[op.index()].render(out, name, &labels);
        }
        let name = "tessera_index_operation_duration_seconds";
        declare(
            out,
            name,
            "histogram",
            "Index calls by operation, from the wait for a database connection to the answer, \
             failures included.",
        );
        for op in IndexOp::ALL {
            let labels = format!("operation=\"{}\"", op.name());
            self.index_seconds[op.index()].render(out, name, &labels);
        }
    }
}

/// Whole seconds from `micros` (since the Unix epoch; 0: none) to `now`.
fn age_seconds(micros: u64, now: SystemTime) -> u64 {
    if micros == 0 {
        return 0;
    }
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    now.saturating_sub(micros) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn age_of_the_oldest_unsent_entry() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(age_seconds(0, now), 0);
        assert_eq!(age_seconds(990_000_000, now), 10);
        assert_eq!(age_seconds(2_000_000_000, now), 0);
    }
}
