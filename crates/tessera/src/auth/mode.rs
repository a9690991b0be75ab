//! Whether callers must authenticate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `none`: every caller is let in with every role (allowed only on a loopback address unless
/// anonymous access is allowed explicitly). `required`: a bearer token or an API key on
/// every route but `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    #[default]
    None,
    Required,
}

impl AuthMode {
    pub const NAMES: [&'static str; 2] = ["none", "required"];

    pub fn name(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Required => "required",
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a mode.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown authentication mode {0:?}: expected none or required")]
pub struct UnknownAuthMode(pub String);

impl FromStr for AuthMode {
    type Err = UnknownAuthMode;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "none" => Ok(AuthMode::None),
            "required" => Ok(AuthMode::Required),
            other => Err(UnknownAuthMode(other.to_string())),
        }
    }
}
