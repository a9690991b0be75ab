//! How the index's connection pool behaves, as the settings give it.

use std::time::Duration;

/// The pool of connections to the index database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Longest wait for a connection (the database is away, or every connection is busy)
    /// before the call fails, and the request is answered 503. Opening the pool waits as long
    /// for its first connection.
    pub acquire_timeout: Duration,
}
