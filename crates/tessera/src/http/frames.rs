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
use crate::frames::syntax::{choose, Choice, Stored};
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
    let (mut instance, mut kept) = state.frames.kept_instance(&study, &series, &sop).await?;
    // A kept instance answers only what it can be trusted for (see `trusted`); otherwise
    // the index is asked now, before any work.
    if kept && !trusted(&state, &instance, &numbers, &wanted) {
        instance = state.frames.instance(&study, &series, &sop).await?;
        kept = false;
    }
    match answer(&state, &instance, &numbers, &wanted).await {
        // Stored again since it was looked up (its old blob gone, or a copy in another
        // syntax): answer from the index as it is now.
        Err(
            err @ (FrameError::Replaced(_) | FrameError::Storage(StorageError::NotFound { .. })),
        ) if kept || matches!(err, FrameError::Replaced(_)) => {
            let instance = state.frames.instance(&study, &series, &sop).await?;
            Ok(answer(&state, &instance, &numbers, &wanted).await?)
        }
        other => Ok(other?),
    }
}

/// The representation to answer with: the first acceptable range the stored syntax can
/// give, and whether that range asked for a multipart wrapper.
fn negotiate(instance: &Instance, wanted: &[Wanted]) -> Option<(Choice, Option<bool>)> {
    let stored = instance.stored();
    wanted.iter().find_map(|w| {
        choose(&w.media, w.transfer_syntax.as_deref(), stored).map(|c| (c, w.multipart))
    })
}

/// Whether an instance kept from an earlier lookup can answer this request: its frames
/// exist, negotiation succeeds, and the answer reads the instance's blob, which is what
/// shows a kept instance out of date (`FrameService::reads_blob`). An error or a refusal
/// is only ever answered from the index as it is now.
fn trusted(state: &AppState, instance: &Instance, numbers: &[u32], wanted: &[Wanted]) -> bool {
    state.frames.check_frames(instance, numbers).is_ok()
        && negotiate(instance, wanted)
            .is_some_and(|(choice, _)| state.frames.reads_blob(instance, choice.source))
}

async fn answer(
    state: &AppState,
    instance: &Instance,
    numbers: &[u32],
    wanted: &[Wanted],
) -> Result<Response, FrameError> {
    state.frames.check_frames(instance, numbers)?;
    let Some((choice, multipart)) = negotiate(instance, wanted) else {
        return Ok(not_acceptable(instance.stored()).into_response());
    };
    let payloads = state
        .frames
        .frames(instance, numbers, choice.source)
        .await?;
    let content_type = choice.content_type();
    if multipart == Some(false) && payloads.len() == 1 {
        let payload = payloads.into_iter().next().unwrap_or_default();
        return Ok(related::single(&content_type, payload));
    }
    let parts = payloads
        .into_iter()
        .map(|p| (content_type.clone(), p))
        .collect();
    Ok(related::response(choice.media, parts))
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
