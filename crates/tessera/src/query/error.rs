//! Why a query cannot be answered as asked.

/// A QIDO-RS query that cannot be answered as asked; the message names the parameter.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct QueryError {
    pub parameter: String,
    pub reason: String,
}

impl QueryError {
    pub fn new(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        QueryError {
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }
}
