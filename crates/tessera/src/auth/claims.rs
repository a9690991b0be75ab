//! Roles from a token's claims: which claim holds them, and how the issuer's names become
//! Tessera's.

use serde_json::Value;

use super::{Role, Roles};

/// Where roles are found and how they are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMapping {
    /// A claim name, or a dotted path into nested objects (`realm_access.roles`).
    pub claim: String,
    /// The issuer's names as Tessera's. Empty: Tessera's own names are taken as they are;
    /// otherwise only the names listed here count.
    pub map: Vec<(String, Role)>,
}

impl RoleMapping {
    /// The roles a token's claims give.
    pub fn roles(&self, claims: &Value) -> Roles {
        let mut value = claims;
        for part in self.claim.split('.') {
            match value.get(part) {
                Some(inner) => value = inner,
                None => return Roles::NONE,
            }
        }
        let names: Vec<&str> = match value {
            // `scope` and some issuers' roles: one space-separated string.
            Value::String(s) => s.split_whitespace().collect(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        names
            .into_iter()
            .filter_map(|name| self.role_of(name))
            .collect()
    }

    fn role_of(&self, name: &str) -> Option<Role> {
        if self.map.is_empty() {
            return name.parse().ok();
        }
        self.map
            .iter()
            .find(|(theirs, _)| theirs == name)
            .map(|(_, ours)| *ours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(claim: &str, map: &[(&str, Role)]) -> RoleMapping {
        RoleMapping {
            claim: claim.into(),
            map: map.iter().map(|(t, r)| (t.to_string(), *r)).collect(),
        }
    }

    #[test]
    fn roles_from_arrays_strings_and_nested_claims() {
        let claims = json!({
            "roles": ["read", "owner", "write"],
            "scope": "openid read delete",
            "realm_access": {"roles": ["admin"]},
            "groups": "not-a-list-of-roles",
        });
        assert_eq!(mapping("roles", &[]).roles(&claims).names(), "read,write");
        assert_eq!(mapping("scope", &[]).roles(&claims).names(), "read,delete");
        assert_eq!(
            mapping("realm_access.roles", &[]).roles(&claims).names(),
            "admin"
        );
        assert_eq!(mapping("groups", &[]).roles(&claims), Roles::NONE);
        assert_eq!(mapping("missing.path", &[]).roles(&claims), Roles::NONE);
    }

    #[test]
    fn a_map_renames_and_only_mapped_names_count() {
        let claims = json!({"groups": ["dicom-readers", "admin", "dicom-owners"]});
        let m = mapping(
            "groups",
            &[
                ("dicom-readers", Role::Read),
                ("dicom-owners", Role::Delete),
            ],
        );
        assert_eq!(m.roles(&claims).names(), "read,delete");
    }
}
