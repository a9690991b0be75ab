//! A gauge held up while a value lives: a request or a connection in progress, also when it
//! is dropped half-way because its client went away.

use std::sync::atomic::AtomicU64;

use super::Metrics;

/// One up on a gauge of `metrics` while it lives.
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
