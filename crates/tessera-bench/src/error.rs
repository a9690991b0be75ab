//! The benchmark's one error type.

/// A benchmark could not run or a server misbehaved under it.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A bad flag, an unreachable server, a request that failed, a report that cannot be
    /// written: the message says which.
    #[error("{0}")]
    Failed(String),
    /// The in-process Tessera of the callgrind operations did not start.
    #[error("cannot start the in-process server: {0}")]
    Server(#[from] tessera::app::AppError),
}
