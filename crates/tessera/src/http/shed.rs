//! Load shedding: at most `max_concurrent_requests` requests are worked on at once; one more
//! is answered 503 with Retry-After at once, instead of waiting in an unbounded queue while
//! its client times out and memory grows. `/healthz` is never shed, so that a load balancer
//! tells a busy node from a dead one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::metrics::{Gauge, Metrics};

#[derive(Clone)]
pub struct Shedder {
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Shedder {
    pub fn new(max_concurrent_requests: usize, metrics: Arc<Metrics>) -> Self {
        Shedder {
            slots: Arc::new(Semaphore::new(max_concurrent_requests.max(1))),
            metrics,
        }
    }
}

pub async fn shed(State(shedder): State<Shedder>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let Ok(_slot) = shedder.slots.try_acquire() else {
        shedder.metrics.inc(&shedder.metrics.requests_shed);
        return ApiError::Overloaded.into_response();
    };
    let _counted = Gauge::up(&shedder.metrics, |m| &m.requests_in_flight);
    next.run(request).await
}
