//! `GET /healthz`: 200 only when both the index and the blob store answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppState;

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let (index, store) = tokio::join!(state.index.health(), state.store.health());
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let index = index.map_err(|e| {
        tracing::warn!(error = %e, "health: index unavailable");
        "unavailable".to_string()
    });
    let store = store.map_err(|e| {
        tracing::warn!(error = %e, "health: blob store unavailable");
        "unavailable".to_string()
    });
    let status = if index.is_ok() && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "index": describe(&index),
        "index_backend": state.index.backend(),
        "storage": describe(&store),
    });
    (status, Json(body))
}
