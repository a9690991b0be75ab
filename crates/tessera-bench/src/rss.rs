//! A process's memory and CPU from /proc (Linux): VmRSS/VmHWM from /proc/PID/status,
//! utime+stime from /proc/PID/stat, and a sampler that tracks the highest VmRSS seen while
//! a workload runs (VmHWM is a lifetime peak, so it hides the peak of a later phase).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// USER_HZ: 100 on every mainstream Linux build.
const CLK_TCK: f64 = 100.0;
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub cpu_ticks: u64,
}

/// Read process `pid`, or this process when `None`.
pub fn read(pid: Option<u32>) -> Option<ProcSample> {
    let dir = pid.map_or_else(|| "/proc/self".to_string(), |p| format!("/proc/{p}"));
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    Some(ProcSample {
        rss_kb: status_kb(&status, "VmRSS:")?,
        hwm_kb: status_kb(&status, "VmHWM:")?,
        cpu_ticks: cpu_ticks(&stat)?,
    })
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// utime + stime: fields 14 and 15, counted after the parenthesised command name.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

pub fn cpu_seconds(before: Option<ProcSample>, after: Option<ProcSample>) -> Option<f64> {
    let (b, a) = (before?, after?);
    Some(a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / CLK_TCK)
}

pub fn kb_to_mib(kb: u64) -> f64 {
    kb as f64 * 1024.0 / MIB
}

/// What the server used during one phase.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub cpu_s: f64,
    pub rss_before_mb: f64,
    pub rss_after_mb: f64,
    /// Highest VmRSS sampled every 10 ms during the phase.
    pub rss_peak_mb: f64,
    /// VmHWM (lifetime peak RSS) at the end of the phase.
    pub hwm_mb: f64,
}

/// Watches a server process for one phase.
pub struct Watch {
    pid: u32,
    before: ProcSample,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<u64>,
}

impl Watch {
    /// `None` if the process cannot be read (gone, not Linux, not ours).
    pub fn start(pid: u32) -> Option<Watch> {
        let before = read(Some(pid))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = tokio::spawn(async move {
            let mut peak = before.rss_kb;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(s) = read(Some(pid)) {
                    peak = peak.max(s.rss_kb);
                }
            }
            peak
        });
        Some(Watch {
            pid,
            before,
            stop,
            sampler,
        })
    }

    pub async fn finish(self) -> Option<ServerUsage> {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.sampler.await.unwrap_or(0);
        let after = read(Some(self.pid))?;
        Some(ServerUsage {
            cpu_s: cpu_seconds(Some(self.before), Some(after))?,
            rss_before_mb: kb_to_mib(self.before.rss_kb),
            rss_after_mb: kb_to_mib(after.rss_kb),
            rss_peak_mb: kb_to_mib(sampled.max(after.rss_kb)),
            hwm_mb: kb_to_mib(after.hwm_kb),
        })
    }
}

/// A process's VmRSS sampled at a fixed interval: (seconds since start, kB) pairs, to show
/// how memory moves during one long phase.
pub struct Timeline {
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<Vec<(f64, u64)>>,
}

impl Timeline {
    /// Sample process `pid` (this process when `None`) every `every`.
    pub fn start(pid: Option<u32>, every: Duration) -> Timeline {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = tokio::spawn(async move {
            let start = std::time::Instant::now();
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Some(s) = read(pid) {
                    samples.push((start.elapsed().as_secs_f64(), s.rss_kb));
                }
                if flag.load(Ordering::Relaxed) {
                    break samples;
                }
            }
        });
        Timeline { stop, sampler }
    }

    /// Stop after one last sample.
    pub async fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn reads_this_process() {
        let s = read(None).expect("/proc/self");
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
    }
}
