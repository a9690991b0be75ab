//! A latency histogram of fixed buckets: one atomic counter per bucket and one for the sum, so
//! that recording is two atomic additions and never waits for a lock. Rendered as a Prometheus
//! histogram (cumulative `_bucket{le=...}` lines, `_sum` in seconds, `_count`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets in microseconds: 100 µs (an index lookup on SQLite) to 60 s (a
/// large STOW); above the last, `+Inf`.
const BOUNDS_MICROS: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];
const BUCKETS: usize = BOUNDS_MICROS.len() + 1;

/// Durations counted into fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative): observations above the previous bound, up to this one.
    buckets: [AtomicU64; BUCKETS],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Count one duration.
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BOUNDS_MICROS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations counted so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The sample lines of this histogram under `name`, with `labels` (`family="stow"`) on
    /// each. `_count` is the `+Inf` bucket, so the two always agree even while others record.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for (bucket, bound) in self.buckets.iter().zip(BOUNDS_MICROS) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = bound as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets[BUCKETS - 1].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_into_cumulative_buckets() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(100));
        assert_eq!(h.count(), 4);
        let mut text = String::new();
        h.render(&mut text, "t_seconds", "op=\"x\"");
        assert!(
            text.contains("t_seconds_bucket{op=\"x\",le=\"0.0001\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{op=\"x\",le=\"0.0025\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{op=\"x\",le=\"0.005\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{op=\"x\",le=\"60\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_sum{op=\"x\"} 100.00318\n"),
            "{text}"
        );
        assert!(text.contains("t_seconds_count{op=\"x\"} 4\n"), "{text}");
        assert_eq!(text.lines().count(), BUCKETS + 2);
    }
}
