//! `GET /metrics` (Prometheus text format) and the middleware measuring every request: its
//! route family and status class, the bytes of its body and of its answer's body, and its
//! latency up to the last byte of the answer ([`metered_body`](super::metered_body)).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::metered_body::{CountedRequestBody, MeteredResponseBody};
use super::AppState;
use crate::metrics::{Metrics, RouteFamily};

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Count and measure a request. Sits outside the compression layer, so the bytes out are
/// those sent.
pub async fn count(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let family = RouteFamily::classify(request.method().as_str(), request.uri().path());
    let counted = Arc::clone(&metrics);
    let request = request.map(|body| Body::new(CountedRequestBody::new(body, counted, family)));
    let response = next.run(request).await;
    metrics.request(family, response.status().as_u16());
    response.map(|body| Body::new(MeteredResponseBody::new(body, metrics, family, started)))
}
