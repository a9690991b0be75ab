//! Partitions: independent collections of studies in one archive, each with its own index
//! and blob prefix (`/dicom-web/partitions/{name}/...`). This module holds what every layer
//! shares about them: the validated name, and what can go wrong finding or making one.
//! Opening a partition's stores is `index::partitions` and `storage::BlobStore::within`;
//! building its services, `crate::partitions`.

use std::fmt;

/// The name of the default partition: the plain routes (`/dicom-web/studies`), also
/// reachable as `/dicom-web/partitions/default/...`.
pub const DEFAULT_PARTITION: &str = "default";

/// Longest name. PostgreSQL keeps each partition in a schema `p_{name}`, and its identifiers
/// are at most 63 bytes.
pub const MAX_NAME_LENGTH: usize = 60;

/// A partition's name, checked: 1 to [`MAX_NAME_LENGTH`] lower-case ASCII letters, digits,
/// `-` and `_`, starting with a letter or a digit. Nothing else can name a partition, so a
/// name is safe in a blob key, a file path and an SQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionName(String);

impl PartitionName {
    pub fn parse(name: &str) -> Result<PartitionName, PartitionError> {
        let bad = |why: &str| PartitionError::InvalidName {
            name: name.chars().take(80).collect(),
            reason: why.to_string(),
        };
        if name.is_empty() || name.len() > MAX_NAME_LENGTH {
            return Err(bad(&format!("a name is 1 to {MAX_NAME_LENGTH} characters")));
        }
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if !name.bytes().all(allowed) {
            return Err(bad(
                "only lower-case letters, digits, '-' and '_' are allowed",
            ));
        }
        let first = name.as_bytes()[0];
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(bad("a name starts with a letter or a digit"));
        }
        Ok(PartitionName(name.to_string()))
    }

    /// The default partition's name.
    pub fn default_partition() -> PartitionName {
        PartitionName(DEFAULT_PARTITION.to_string())
    }

    /// Whether this names the default partition (the plain routes).
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_PARTITION
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartitionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A partition as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub name: PartitionName,
    /// Microseconds since the Unix epoch (0 for the default partition).
    pub created_at: i64,
}

/// Finding, making or opening a partition failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Not a name a partition can have: 400.
    #[error("invalid partition name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    /// No partition has this name: 404.
    #[error("no partition is named {0:?}")]
    NotFound(String),
    /// Its index or blob store cannot be reached or prepared now (the index's or the
    /// store's error, as text: this layer knows neither): 503.
    #[error("partition {name:?} is unavailable: {reason}")]
    Unavailable { name: String, reason: String },
    /// Partitions cannot be kept in this index (an in-memory SQLite database): 400.
    #[error("partitions are not available here: {0}")]
    Unsupported(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in [
            "a",
            "research-1",
            "deid_2026",
            "0abc",
            &"x".repeat(MAX_NAME_LENGTH),
        ] {
            assert_eq!(PartitionName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "A",
            "a b",
            "../x",
            "a/b",
            "a.b",
            "-a",
            "_a",
            "é",
            "a\0",
            "a%2F",
            &"x".repeat(MAX_NAME_LENGTH + 1),
        ] {
            let err = PartitionName::parse(bad).unwrap_err();
            assert!(
                matches!(err, PartitionError::InvalidName { .. }),
                "{bad:?}: {err}"
            );
        }
        assert!(PartitionName::parse("default").unwrap().is_default());
        assert!(!PartitionName::parse("defaults").unwrap().is_default());
    }
}
