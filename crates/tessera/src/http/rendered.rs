//! Rendered resources and thumbnails (PS3.18 10.4.1.1.3 Retrieve Rendered, 10.4.1.1.4
//! Retrieve Thumbnail, 8.3.5 rendering parameters), at study, series, instance and frame
//! level; `image/jpeg` (default) or `image/png`.
//!
//! Which images a rendered resource holds:
//! - frames `.../frames/{list}/rendered`: the listed frames;
//! - instance: every frame;
//! - series and study: the first frame of every image instance, in series and instance
//!   order (a simple rule: no per-instance multi-frame expansion).
//!
//! One image is answered single-part; several are answered as `multipart/related`, unless
//! the client accepts only a single-part type (`Accept: image/jpeg`), which gets the first.
//!
//! A thumbnail is always one image, fitted in 128×128 unless a viewport is given: the
//! middle frame of an instance, the first listed frame, the middle image instance of a
//! series or study.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::accept::{wanted_from, Wanted};
use super::path::{accept_parameter, instance_uids, query_pairs, series_uid, study_uid};
use super::{related, AppState};
use crate::frames::list::parse_frame_list;
use crate::frames::params::{self, RenderParams, THUMBNAIL_VIEWPORT};
use crate::frames::render::ImageFormat;
use crate::frames::FrameError;
use crate::frames::Instance;
use crate::http::error::ApiError;

/// What the request wants: the image format and whether it accepts multipart.
struct Request {
    format: ImageFormat,
    multipart: Option<bool>,
    params: RenderParams,
}

fn format_of(wanted: &[Wanted]) -> Option<(ImageFormat, Option<bool>)> {
    wanted.iter().find_map(|w| {
        if w.media == "image/png" {
            Some((ImageFormat::Png, w.multipart))
        } else if w.accepts("image/jpeg") {
            Some((ImageFormat::Jpeg, w.multipart))
        } else {
            None
        }
    })
}

fn parse_request(headers: &HeaderMap, raw: Option<&str>) -> Result<Request, ApiError> {
    let pairs = query_pairs(raw);
    let params = params::parse(&pairs)?;
    let wanted = wanted_from(headers, accept_parameter(&pairs));
    let (format, multipart) = format_of(&wanted).ok_or_else(|| {
        ApiError::NotAcceptable("rendered images are served as image/jpeg or image/png".into())
    })?;
    Ok(Request {
        format,
        multipart,
        params,
    })
}

/// Render `images` (instance, 1-based frame) into one response. With `skip_undecodable`
/// (study and series), an instance that cannot be rendered is left out of a multipart
/// answer rather than failing it, unless none can be.
async fn answer(
    state: &AppState,
    request: &Request,
    images: Vec<(Arc<Instance>, u32)>,
    skip_undecodable: bool,
) -> Result<Response, ApiError> {
    let media = request.format.media_type();
    let single =
        images.len() == 1 && request.multipart != Some(true) || request.multipart == Some(false);
    if single {
        let (instance, frame) = images
            .first()
            .ok_or_else(|| ApiError::NotFound("nothing to render".into()))?;
        let image = state
            .frames
            .render(instance, *frame, &request.params, request.format)
            .await?;
        return Ok(related::single(media, image));
    }
    let mut parts = Vec::with_capacity(images.len());
    let mut skipped = None;
    for (instance, frame) in &images {
        match state
            .frames
            .render(instance, *frame, &request.params, request.format)
            .await
        {
            Ok(image) => parts.push((media.to_string(), image)),
            Err(FrameError::Undecodable(reason)) if skip_undecodable => {
                tracing::warn!(sop = %instance.row.sop_uid, %reason, "left out of a rendered answer");
                skipped = Some(FrameError::Undecodable(reason));
            }
            Err(err) => return Err(err.into()),
        }
    }
    match skipped {
        Some(err) if parts.is_empty() => Err(err.into()),
        _ => Ok(related::response(media, parts)),
    }
}

/// Render one thumbnail.
async fn thumbnail(
    state: &AppState,
    mut request: Request,
    instance: Arc<Instance>,
    frame: u32,
) -> Result<Response, ApiError> {
    request.params.viewport = request.params.viewport.or(Some(THUMBNAIL_VIEWPORT));
    let image = state
        .frames
        .render(&instance, frame, &request.params, request.format)
        .await?;
    Ok(related::single(request.format.media_type(), image))
}

pub async fn study_rendered(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let study = study_uid(&study)?;
    let request = parse_request(&headers, raw.as_deref())?;
    let images = state.frames.image_instances(&study, None).await?;
    let images = images.into_iter().map(|i| (i, 1)).collect();
    answer(&state, &request, images, true).await
}

pub async fn series_rendered(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series) = (study_uid(&study)?, series_uid(&series)?);
    let request = parse_request(&headers, raw.as_deref())?;
    let images = state.frames.image_instances(&study, Some(&series)).await?;
    let images = images.into_iter().map(|i| (i, 1)).collect();
    answer(&state, &request, images, true).await
}

pub async fn instance_rendered(
    State(state): State<AppState>,
    Path((study, series, sop)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series, sop) = instance_uids(&study, &series, &sop)?;
    let request = parse_request(&headers, raw.as_deref())?;
    let instance = state.frames.instance(&study, &series, &sop).await?;
    state.frames.check_frames(&instance, &[1])?;
    let images = (1..=instance.frame_count())
        .map(|n| (instance.clone(), n))
        .collect();
    answer(&state, &request, images, false).await
}

pub async fn frames_rendered(
    State(state): State<AppState>,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series, sop) = instance_uids(&study, &series, &sop)?;
    let numbers = parse_frame_list(&list)?;
    let request = parse_request(&headers, raw.as_deref())?;
    let instance = state.frames.instance(&study, &series, &sop).await?;
    state.frames.check_frames(&instance, &numbers)?;
    let images = numbers.iter().map(|&n| (instance.clone(), n)).collect();
    answer(&state, &request, images, false).await
}

pub async fn study_thumbnail(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let study = study_uid(&study)?;
    let request = parse_request(&headers, raw.as_deref())?;
    let mut images = state.frames.image_instances(&study, None).await?;
    let instance = images.swap_remove((images.len() - 1) / 2);
    let frame = instance.middle_frame();
    thumbnail(&state, request, instance, frame).await
}

pub async fn series_thumbnail(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series) = (study_uid(&study)?, series_uid(&series)?);
    let request = parse_request(&headers, raw.as_deref())?;
    let mut images = state.frames.image_instances(&study, Some(&series)).await?;
    let instance = images.swap_remove((images.len() - 1) / 2);
    let frame = instance.middle_frame();
    thumbnail(&state, request, instance, frame).await
}

pub async fn instance_thumbnail(
    State(state): State<AppState>,
    Path((study, series, sop)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series, sop) = instance_uids(&study, &series, &sop)?;
    let request = parse_request(&headers, raw.as_deref())?;
    let instance = state.frames.instance(&study, &series, &sop).await?;
    let frame = instance.middle_frame();
    thumbnail(&state, request, instance, frame).await
}

pub async fn frames_thumbnail(
    State(state): State<AppState>,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series, sop) = instance_uids(&study, &series, &sop)?;
    let numbers = parse_frame_list(&list)?;
    let request = parse_request(&headers, raw.as_deref())?;
    let instance = state.frames.instance(&study, &series, &sop).await?;
    state.frames.check_frames(&instance, &numbers)?;
    let frame = numbers.first().copied().unwrap_or(1);
    thumbnail(&state, request, instance, frame).await
}
