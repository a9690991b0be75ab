//! `GET /healthz`: 200 when both the index and the blob store answer, 503 otherwise. A local
//! store with less than [`FULL_BELOW`] free still answers 200 (reads work) but says
//! `"status": "degraded"` and `"storage": "full"`, so that an operator's probe sees why
//! writes fail before a modality does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppState;

/// Free bytes below which the local store counts as full.
pub const FULL_BELOW: u64 = 1 << 20;

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
    let free = state.store.free_space();
    let full = free.is_some_and(|free| free < FULL_BELOW);
    let status = if index.is_ok() && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = match (status, full) {
        (StatusCode::OK, false) => "ok",
        (StatusCode::OK, true) => "degraded",
        _ => "unavailable",
    };
    let storage = match (&store, full) {
        (Ok(()), true) => json!("full"),
        _ => describe(&store),
    };
    let mut body = json!({
        "status": word,
        "index": describe(&index),
        "index_backend": state.index.backend(),
        "storage": storage,
    });
    if let Some(free) = free {
        body["storage_free_bytes"] = json!(free);
    }
    (status, Json(body))
}
