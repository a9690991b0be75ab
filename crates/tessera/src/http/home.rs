//! `GET /`: a small built-in page (plain HTML and JavaScript, in the binary): server status,
//! the study list by QIDO with a search box, study thumbnails, and links into the viewer
//! when one is configured.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::viewer::PREFIX;

const PAGE: &str = include_str!("home.html");

pub async fn home(State(state): State<AppState>) -> Response {
    let viewer = if state.viewer.is_some() { PREFIX } else { "" };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE.replace("{{VIEWER}}", viewer),
    )
        .into_response()
}
