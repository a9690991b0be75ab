//! Why settings could not be used.

use std::path::PathBuf;

/// Settings could not be read or make no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("invalid command line or environment: {0}")]
    Arguments(String),
    #[error("invalid {name} {value:?}: expected {expected}")]
    InvalidValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("de-identification project {project}: {reason}")]
    DeidProject { project: String, reason: String },
}
