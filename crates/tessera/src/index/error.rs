//! The index's error.

/// The index (SQLite or PostgreSQL) failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("unsupported database URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("index database failed during {operation}: {source}")]
    Database {
        operation: &'static str,
        source: sqlx::Error,
    },
    #[error("index migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("index row is inconsistent: {0}")]
    Corrupt(String),
    #[error("index unavailable: {0}")]
    Unavailable(String),
}

impl IndexError {
    pub fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> IndexError {
        move |source| IndexError::Database { operation, source }
    }
}
