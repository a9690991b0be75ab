//! The frames service's error.

use crate::index::IndexError;
use crate::storage::StorageError;

/// WADO-RS frames, rendered images and thumbnails (`frames` service).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Unknown instance, a frame number past the last, no pixel data.
    #[error("{0}")]
    NotFound(String),
    /// A malformed frame list or rendering parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The stored pixel data cannot be turned into what was asked (no codec for its
    /// transfer syntax, a photometric interpretation rendering does not handle, data the
    /// codec refuses). The client may still get the frames as stored.
    #[error("cannot decode the stored pixel data: {0}")]
    Undecodable(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("background task failed: {0}")]
    Task(String),
    /// The instance was stored again, in another transfer syntax, after the answer was
    /// negotiated: ask again (the handler does, once, with the instance as it is now).
    #[error("instance {0} was replaced by a copy in another transfer syntax while it was read")]
    Replaced(String),
}

/// An error with its chain of causes, for messages that say what the codec refused.
pub fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
