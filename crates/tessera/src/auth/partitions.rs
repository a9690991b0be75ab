//! Which partitions a caller may use: every one (the default, and what callers had before
//! partitions), or only those listed: an API key created with `--partitions`, or a token
//! whose partitions claim (`--oidc-partitions-claim`) lists them. The default partition (the
//! plain routes) is named `default`. Roles say what a caller may do; this says where.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::partition::PartitionName;

/// The partitions a caller may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PartitionAccess {
    /// Every partition, and the archive-wide routes (audit trail, metrics, creating
    /// partitions) when the roles allow them.
    #[default]
    All,
    /// Only these (checked names; `default` for the plain routes). Archive-wide routes are
    /// refused.
    Only(BTreeSet<PartitionName>),
}

impl PartitionAccess {
    /// Limited to the names of a comma- or space-separated list; names that no partition
    /// can have are dropped (they could match nothing).
    pub fn parse_list(list: &str) -> PartitionAccess {
        PartitionAccess::Only(
            list.split([',', ' '])
                .filter_map(|name| PartitionName::parse(name.trim()).ok())
                .collect(),
        )
    }

    /// From a token's claims: `claim` (a dotted path) holding a list of names or a
    /// space-separated string. A token without the claim may use every partition; one with
    /// it (even empty) only those it lists.
    pub fn from_claims(claims: &Value, claim: &str) -> PartitionAccess {
        let mut value = claims;
        for part in claim.split('.') {
            match value.get(part) {
                Some(inner) => value = inner,
                None => return PartitionAccess::All,
            }
        }
        match value {
            Value::String(s) => PartitionAccess::parse_list(s),
            Value::Array(items) => PartitionAccess::Only(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|name| PartitionName::parse(name).ok())
                    .collect(),
            ),
            _ => PartitionAccess::Only(BTreeSet::new()),
        }
    }

    /// Whether the caller may use this partition.
    pub fn allows(&self, name: &PartitionName) -> bool {
        match self {
            PartitionAccess::All => true,
            PartitionAccess::Only(names) => names.contains(name),
        }
    }

    /// Whether the caller is limited to some partitions (and so refused archive-wide routes).
    pub fn is_limited(&self) -> bool {
        matches!(self, PartitionAccess::Only(_))
    }

    /// The stored form: `None` for every partition, else the names comma-separated.
    pub fn stored(&self) -> Option<String> {
        match self {
            PartitionAccess::All => None,
            PartitionAccess::Only(names) => Some(
                names
                    .iter()
                    .map(PartitionName::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        }
    }

    /// For messages: `every partition`, or the names.
    pub fn describe(&self) -> String {
        match self.stored() {
            None => "every partition".into(),
            Some(names) if names.is_empty() => "no partition".into(),
            Some(names) => format!("partitions {names}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name(s: &str) -> PartitionName {
        PartitionName::parse(s).unwrap()
    }

    #[test]
    fn claims_and_lists() {
        let claims = json!({
            "tessera_partitions": ["research", "Bad Name", "default"],
            "scope_like": "a b",
            "nested": {"p": ["x"]},
            "odd": 3,
        });
        let access = PartitionAccess::from_claims(&claims, "tessera_partitions");
        assert!(access.allows(&name("research")) && access.allows(&name("default")));
        assert!(!access.allows(&name("other")));
        assert_eq!(access.stored().as_deref(), Some("default,research"));
        assert_eq!(
            PartitionAccess::from_claims(&claims, "scope_like")
                .stored()
                .as_deref(),
            Some("a,b")
        );
        assert!(PartitionAccess::from_claims(&claims, "nested.p").allows(&name("x")));
        assert_eq!(
            PartitionAccess::from_claims(&claims, "missing"),
            PartitionAccess::All
        );
        let odd = PartitionAccess::from_claims(&claims, "odd");
        assert!(odd.is_limited() && !odd.allows(&name("default")));
        assert_eq!(odd.describe(), "no partition");
        assert_eq!(
            PartitionAccess::parse_list("b, a").stored().as_deref(),
            Some("a,b")
        );
        assert!(!PartitionAccess::All.is_limited());
        assert_eq!(PartitionAccess::All.describe(), "every partition");
    }
}
