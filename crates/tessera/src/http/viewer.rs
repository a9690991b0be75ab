//! `/viewer`: the OHIF viewer's files (see crate::viewer), its deep links answered with
//! index.html, and the generated `/viewer/app-config.js`.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;

use super::AppState;
use crate::viewer::files::{self, Coding};
use crate::viewer::rewrite::{rewrite, Kind};
use crate::viewer::{app_config, Rewritten, Viewer, PREFIX};

/// `/viewer` without the slash: OHIF's relative URLs need it.
pub async fn bare() -> Redirect {
    Redirect::permanent(PREFIX)
}

/// `/viewer/`: the app.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    asset_or_route(state, "index.html".into(), headers).await
}

/// `/viewer/{*path}`: a file, or for a path without an extension (an OHIF route such as
/// `/viewer/viewer?StudyInstanceUIDs=...`), index.html.
pub async fn asset(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    asset_or_route(state, path, headers).await
}

/// `/viewer/app-config.js`, written by Tessera whatever the folder holds.
pub async fn app_config(State(state): State<AppState>) -> Response {
    let Some(viewer) = state.viewer.as_ref() else {
        return not_configured();
    };
    let own = state.base_url.as_ref().map(|b| format!("{b}/dicom-web"));
    let root = viewer.dicomweb_url.as_deref().or(own.as_deref());
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        app_config::generate(root, state.sign_in.as_ref()),
    )
        .into_response()
}

fn not_configured() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no viewer configured: start tessera with --viewer-dir (see README)\n",
    )
        .into_response()
}

async fn asset_or_route(state: AppState, path: String, headers: HeaderMap) -> Response {
    let Some(viewer) = state.viewer.clone() else {
        return not_configured();
    };
    let Some(file) = viewer.resolve(&path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let accept_encoding = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let codings = files::accepted_codings(accept_encoding.as_deref());
    let is_file = tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file());
    let last = path.rsplit('/').next().unwrap_or_default();
    let (file, name) = if is_file {
        (file, path.clone())
    } else if !last.contains('.') {
        (viewer.dir().join("index.html"), "index.html".to_string())
    } else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    match serve_file(&viewer, &file, &name, &codings).await {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(file = %file.display(), error = %err, "viewer: cannot read file");
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
    }
}

async fn serve_file(
    viewer: &Arc<Viewer>,
    file: &Path,
    name: &str,
    codings: &[Coding],
) -> std::io::Result<Response> {
    let modified = tokio::fs::metadata(file).await?.modified().ok();
    if let Some(kind) = Kind::of(name) {
        if let Some(entry) = viewer.cached(file, modified) {
            return Ok(rewritten_response(entry, name, codings).await);
        }
        let bytes = tokio::fs::read(file).await?;
        let changed = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| rewrite(kind, text, PREFIX));
        if let Some(text) = changed {
            let entry = Arc::new(Rewritten {
                modified,
                body: Bytes::from(text),
                gzip: Default::default(),
            });
            viewer.remember(file.to_path_buf(), Arc::clone(&entry));
            return Ok(rewritten_response(entry, name, codings).await);
        }
        if let Some(response) = precompressed(file, name, codings).await {
            return Ok(response);
        }
        return Ok(respond(name, Bytes::from(bytes), None));
    }
    if let Some(response) = precompressed(file, name, codings).await {
        return Ok(response);
    }
    Ok(respond(
        name,
        Bytes::from(tokio::fs::read(file).await?),
        None,
    ))
}

/// A `.br` or `.gz` sibling the client accepts, served as the file with that coding.
async fn precompressed(file: &Path, name: &str, codings: &[Coding]) -> Option<Response> {
    for coding in codings {
        let mut sibling = file.as_os_str().to_owned();
        sibling.push(".");
        sibling.push(coding.suffix());
        if let Ok(bytes) = tokio::fs::read(&sibling).await {
            return Some(respond(name, Bytes::from(bytes), Some(*coding)));
        }
    }
    None
}

/// A rewritten file, gzipped once (in memory) for clients that accept gzip.
async fn rewritten_response(entry: Arc<Rewritten>, name: &str, codings: &[Coding]) -> Response {
    if !codings.contains(&Coding::Gzip) || entry.body.len() < 1024 {
        return respond(name, entry.body.clone(), None);
    }
    let cached = entry.gzip.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let gzip = match cached {
        Some(gzip) => gzip,
        None => {
            let body = entry.body.clone();
            let compressed = tokio::task::spawn_blocking(move || gzip(&body)).await;
            match compressed {
                Ok(Ok(gzip)) => {
                    *entry.gzip.lock().unwrap_or_else(|e| e.into_inner()) = Some(gzip.clone());
                    gzip
                }
                _ => return respond(name, entry.body.clone(), None),
            }
        }
    };
    respond(name, gzip, Some(Coding::Gzip))
}

fn gzip(body: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body)?;
    Ok(Bytes::from(encoder.finish()?))
}

fn respond(name: &str, body: Bytes, coding: Option<Coding>) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(files::content_type(name)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(files::cache_control(name)),
    );
    headers.insert(
        header::VARY,
        header::HeaderValue::from_static("Accept-Encoding"),
    );
    if let Some(coding) = coding {
        headers.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(coding.header()),
        );
    }
    response
}
