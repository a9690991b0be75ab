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
use axum::response::Response;

use super::accept::wanted_from;
use super::path::{accept_parameter, instance_uids, query_pairs};
use super::{related, AppState};
use crate::frames::list::parse_frame_list;
use crate::frames::syntax::choose;
use crate::http::error::ApiError;

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
    let instance = state.frames.instance(&study, &series, &sop).await?;
    state.frames.check_frames(&instance, &numbers)?;
    let stored = instance.stored();
    let (choice, multipart) = wanted
        .iter()
        .find_map(|w| {
            choose(&w.media, w.transfer_syntax.as_deref(), stored).map(|c| (c, w.multipart))
        })
        .ok_or_else(|| {
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
        })?;
    let payloads = state
        .frames
        .frames(&instance, &numbers, choice.source)
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
