//! What the index does with a second copy of a SOP Instance UID.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What to do when an instance arrives whose SOP Instance UID is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Refuse the new copy: FailureReason 0x0111 (Duplicate SOP Instance).
    #[default]
    Reject,
    /// Keep the stored copy, discard the new one and warn (WarningReason 0xB000).
    KeepFirst,
    /// Replace the stored copy with the new one.
    Overwrite,
}

impl DuplicatePolicy {
    /// Every policy by its name in settings.
    pub const NAMES: [&'static str; 3] = ["reject", "keep-first", "overwrite"];

    pub fn name(self) -> &'static str {
        match self {
            DuplicatePolicy::Reject => "reject",
            DuplicatePolicy::KeepFirst => "keep-first",
            DuplicatePolicy::Overwrite => "overwrite",
        }
    }
}

impl fmt::Display for DuplicatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a policy.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown duplicate policy {0:?}: expected reject, keep-first or overwrite")]
pub struct UnknownPolicy(pub String);

impl FromStr for DuplicatePolicy {
    type Err = UnknownPolicy;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "reject" => Ok(DuplicatePolicy::Reject),
            "keep-first" => Ok(DuplicatePolicy::KeepFirst),
            "overwrite" => Ok(DuplicatePolicy::Overwrite),
            other => Err(UnknownPolicy(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in DuplicatePolicy::NAMES {
            let policy: DuplicatePolicy = name.parse().unwrap();
            assert_eq!(policy.to_string(), name);
        }
        assert!("first".parse::<DuplicatePolicy>().is_err());
    }
}
