//! Per-cell figures (throughput, latency percentiles, errors) and their rendering as a
//! human table or JSON. MB here means MiB (2^20 bytes).

use std::time::Duration;

use serde::Serialize;

use super::rss::ServerUsage;

pub const MIB: f64 = 1024.0 * 1024.0;

/// What one request came to.
pub struct Outcome {
    pub latency: Duration,
    pub instances: usize,
    pub bytes: u64,
    /// `None` on HTTP 200; otherwise what went wrong.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub batch: usize,
    pub concurrency: usize,
    pub requests: usize,
    pub instances: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub instances_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: usize,
    pub first_error: Option<String>,
    /// CPU seconds of the bench process itself (to tell a client bottleneck).
    pub client_cpu_s: Option<f64>,
    pub server: Option<ServerUsage>,
}

impl CellReport {
    pub fn new(
        batch: usize,
        concurrency: usize,
        outcomes: &[Outcome],
        elapsed: Duration,
        client_cpu_s: Option<f64>,
        server: Option<ServerUsage>,
    ) -> Self {
        let mut latencies: Vec<f64> = outcomes
            .iter()
            .map(|o| o.latency.as_secs_f64() * 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let instances = outcomes.iter().map(|o| o.instances).sum::<usize>();
        let bytes = outcomes.iter().map(|o| o.bytes).sum::<u64>();
        CellReport {
            batch,
            concurrency,
            requests: outcomes.len(),
            instances,
            bytes,
            seconds,
            instances_per_s: instances as f64 / seconds,
            mb_per_s: bytes as f64 / MIB / seconds,
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            max_ms: latencies.last().copied().unwrap_or(0.0),
            errors: outcomes.iter().filter(|o| o.error.is_some()).count(),
            first_error: outcomes.iter().find_map(|o| o.error.clone()),
            client_cpu_s,
            server,
        }
    }
}

/// Nearest-rank percentile of sorted values; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The one large streamed request.
#[derive(Debug, Clone, Serialize)]
pub struct BigReport {
    pub instances: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_s: f64,
    pub error: Option<String>,
    pub client_cpu_s: Option<f64>,
    /// Highest RSS of the bench process (shows the body was not buffered client-side).
    pub client_hwm_mb: Option<f64>,
    pub server: Option<ServerUsage>,
}

pub fn print_cells(cells: &[CellReport]) {
    let server = cells.iter().any(|c| c.server.is_some());
    let mut head = format!(
        "{:>5} {:>4} {:>5} {:>6} {:>7} {:>8} {:>7} {:>8} {:>8} {:>5} {:>6}",
        "batch",
        "conc",
        "reqs",
        "inst",
        "secs",
        "inst/s",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "errs",
        "cli s"
    );
    if server {
        head.push_str(&format!(
            " | {:>6} {:>5} {:>8} {:>8} {:>8} {:>8}",
            "srv s", "cpu%", "rss0 MB", "rss1 MB", "peak MB", "hwm MB"
        ));
    }
    println!("{head}");
    for c in cells {
        let mut line = format!(
            "{:>5} {:>4} {:>5} {:>6} {:>7.2} {:>8.1} {:>7.1} {:>8.1} {:>8.1} {:>5} {:>6}",
            c.batch,
            c.concurrency,
            c.requests,
            c.instances,
            c.seconds,
            c.instances_per_s,
            c.mb_per_s,
            c.p50_ms,
            c.p99_ms,
            c.errors,
            opt(c.client_cpu_s),
        );
        if let Some(s) = &c.server {
            line.push_str(&usage_columns(s, c.seconds));
        }
        println!("{line}");
    }
    for c in cells.iter().filter(|c| c.first_error.is_some()) {
        let err = c.first_error.as_deref().unwrap_or_default();
        println!(
            "first error (batch {}, concurrency {}): {err}",
            c.batch, c.concurrency
        );
    }
}

pub fn print_big(big: &BigReport) {
    println!(
        "big request: {} instances, {:.1} MB in {:.2} s = {:.1} MB/s, client cpu {} s, client peak RSS {} MB, {}",
        big.instances,
        big.bytes as f64 / MIB,
        big.seconds,
        big.mb_per_s,
        opt(big.client_cpu_s),
        opt(big.client_hwm_mb),
        big.error.as_deref().unwrap_or("HTTP 200"),
    );
    if let Some(s) = &big.server {
        println!(
            "  server: cpu {:.2} s ({:.0}%), RSS {:.1} -> {:.1} MB, sampled peak {:.1} MB, VmHWM {:.1} MB",
            s.cpu_s,
            s.cpu_s / big.seconds.max(1e-9) * 100.0,
            s.rss_before_mb,
            s.rss_after_mb,
            s.rss_peak_mb,
            s.hwm_mb
        );
    }
}

pub fn usage_columns(s: &ServerUsage, seconds: f64) -> String {
    format!(
        " | {:>6.2} {:>5.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        s.cpu_s,
        s.cpu_s / seconds.max(1e-9) * 100.0,
        s.rss_before_mb,
        s.rss_after_mb,
        s.rss_peak_mb,
        s.hwm_mb
    )
}

pub fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
