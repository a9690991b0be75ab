//! `GET /metrics` (Prometheus text format) and the middleware counting every answered
//! request by route family and status class.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

pub async fn count(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let family = RouteFamily::classify(request.method().as_str(), request.uri().path());
    let response = next.run(request).await;
    metrics.request(family, response.status().as_u16());
    response
}
