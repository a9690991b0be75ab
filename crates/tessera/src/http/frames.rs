//! WADO-RS Retrieve Frames (PS3.18 10.4, 8.7.3):
//! `GET /studies/{s}/series/{se}/instances/{i}/frames/{list}`.
//!
//! The Accept header (or `accept` query parameter) picks the representation, first
//! acceptable range wins (`frames::syntax`): frames as stored with `transfer-syntax=*`,
//! native Explicit VR Little Endian by default for `application/octet-stream`, an image
//! media type when the stored syntax is that type's. One frame asked with a single-part
//! type gets a single-part answer; anything else is `multipart/related`.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::accept::{wanted_from, Wanted};
use super::path::{accept_parameter, instance_uids, query_pairs};
use super::{related, AppState};
use crate::frames::list::parse_frame_list;
use crate::frames::syntax::{choose, Stored};
use crate::frames::{FrameError, Instance};
use crate::http::error::ApiError;
use crate::storage::StorageError;

pub async fn frames(
    State(state): State<AppState>,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (study, series, sop) = instance_uids(&study, &series, &sop)?;
    let numbers = parse_frame_list(&list)?;
    let pairs = query_pairs(raw.as_deref());
    let wanted = wanted_from(&headers, accept_parameter(&pairs));
    let (instance, kept) = state.frames.kept_instance(&study, &series, &sop).await?;
    let first = answer(&state, &instance, kept, &numbers, &wanted).await;
    let retry = match &first {
        Ok(None) => true,
        // The instance was stored again since it was looked up (another syntax, other
        // frames, its old blob gone): answer from the index as it is now.
        Err(err) => (kept && stale(err)) || matches!(err, FrameError::Replaced(_)),
        Ok(Some(_)) => false,
    };
    if !retry {
        return first?.ok_or_else(|| ApiError::Internal("no answer".into()));
    }
    let instance = state.frames.instance(&study, &series, &sop).await?;
    answer(&state, &instance, false, &numbers, &wanted)
        .await?
        .ok_or_else(|| ApiError::Internal("no answer".into()))
}

/// Errors an out-of-date kept instance can cause.
fn stale(err: &FrameError) -> bool {
    matches!(
        err,
        FrameError::NotFound(_)
            | FrameError::Replaced(_)
            | FrameError::Storage(StorageError::NotFound { .. })
    )
}

/// The answer for `instance`; `None` when `kept` (an instance kept from an earlier lookup)
/// cannot be trusted for it: the answer would not read the instance's blob, which is what
/// shows a kept instance out of date (see `FrameService::reads_blob`), or negotiation
/// refused what its transfer syntax offers.
async fn answer(
    state: &AppState,
    instance: &Instance,
    kept: bool,
    numbers: &[u32],
    wanted: &[Wanted],
) -> Result<Option<Response>, FrameError> {
    state.frames.check_frames(instance, numbers)?;
    let stored = instance.stored();
    let Some((choice, multipart)) = wanted.iter().find_map(|w| {
        choose(&w.media, w.transfer_syntax.as_deref(), stored).map(|c| (c, w.multipart))
    }) else {
        return Ok((!kept).then(|| not_acceptable(stored).into_response()));
    };
    if kept && !state.frames.reads_blob(instance, choice.source) {
        return Ok(None);
    }
    let payloads = state
        .frames
        .frames(instance, numbers, choice.source)
        .await?;
    let content_type = choice.content_type();
    if multipart == Some(false) && payloads.len() == 1 {
        let payload = payloads.into_iter().next().unwrap_or_default();
        return Ok(Some(related::single(&content_type, payload)));
    }
    let parts = payloads
        .into_iter()
        .map(|p| (content_type.clone(), p))
        .collect();
    Ok(Some(related::response(choice.media, parts)))
}

fn not_acceptable(stored: Stored<'_>) -> ApiError {
    let decoded = if stored.decodable {
        "application/octet-stream (decoded to Explicit VR Little Endian)"
    } else {
        "no decoded form (no codec for it here)"
    };
    ApiError::NotAcceptable(format!(
        "frames are stored in transfer syntax {}: acceptable are \
         application/octet-stream; transfer-syntax=* (as stored) and {decoded}",
        stored.transfer_syntax
    ))
}
