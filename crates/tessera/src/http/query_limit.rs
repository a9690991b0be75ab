//! 414 URI Too Long (RFC 9110 15.5.15) for a request whose query string, as sent
//! (percent-encoded), is longer than `max_query_length`: on every route, before the header
//! size check, so that a long query is told what is wrong with it rather than that the whole
//! header is too large.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

pub async fn limit(State(max): State<usize>, request: Request, next: Next) -> Response {
    let length = request.uri().query().map_or(0, str::len);
    if length > max {
        return ApiError::UriTooLong(format!(
            "the query string is {length} bytes long; at most {max} are allowed"
        ))
        .into_response();
    }
    next.run(request).await
}
