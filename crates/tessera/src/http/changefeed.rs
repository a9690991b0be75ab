//! `GET /dicom-web/changefeed` and `/changefeed/latest`: the ordered log of stores,
//! overwrites and deletes (Azure's change feed is the model: `startAfter` is its `offset`).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::path::query_pairs;
use super::AppState;
use crate::feed::DEFAULT_LIMIT;
use crate::http::error::ApiError;

struct FeedQuery {
    start_after: i64,
    limit: u32,
    include_metadata: bool,
}

fn parse(raw: Option<&str>, paged: bool) -> Result<FeedQuery, ApiError> {
    let mut query = FeedQuery {
        start_after: 0,
        limit: DEFAULT_LIMIT,
        include_metadata: true,
    };
    for (key, value) in query_pairs(raw) {
        match key.as_str() {
            "startAfter" | "offset" if paged => {
                query.start_after =
                    value
                        .parse()
                        .ok()
                        .filter(|n: &i64| *n >= 0)
                        .ok_or_else(|| {
                            ApiError::BadRequest(format!(
                                "{key} must be a sequence number >= 0, not {value:?}"
                            ))
                        })?;
            }
            "limit" if paged => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n: &u32| (1..=crate::feed::MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be between 1 and {}, not {value:?}",
                            crate::feed::MAX_LIMIT
                        ))
                    })?;
            }
            "includeMetadata" => {
                query.include_metadata = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "includeMetadata must be true or false, not {value:?}"
                        )))
                    }
                }
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown change feed parameter {other:?}"
                )))
            }
        }
    }
    Ok(query)
}

pub(super) async fn changefeed(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = parse(raw.as_deref(), true)?;
    let entries = state
        .feed
        .page(query.start_after, query.limit, query.include_metadata)
        .await?;
    Ok(Json(entries).into_response())
}

pub(super) async fn latest(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = parse(raw.as_deref(), false)?;
    match state.feed.latest(query.include_metadata).await? {
        Some(entry) => Ok(Json(entry).into_response()),
        // An empty feed: nothing to show, and no error.
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
