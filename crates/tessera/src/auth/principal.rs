//! Who a request comes from, once authenticated.

use super::{PartitionAccess, Roles};

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`; `api-key:NAME` for an API key; `None` when anonymous.
    pub subject: Option<String>,
    /// The token's `client_id` or `azp`.
    pub client_id: Option<String>,
    /// The API key's name.
    pub api_key: Option<String>,
    /// The token's issuer.
    pub issuer: Option<String>,
    pub roles: Roles,
    /// The partitions the caller may use.
    pub partitions: PartitionAccess,
}

impl Principal {
    /// Everyone, when authentication is off: every role.
    pub fn anonymous() -> Principal {
        Principal {
            subject: None,
            client_id: None,
            api_key: None,
            issuer: None,
            roles: Roles::ALL,
            partitions: PartitionAccess::All,
        }
    }
}
