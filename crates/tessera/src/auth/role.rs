//! Tessera's roles and sets of them.

use std::fmt;
use std::str::FromStr;

/// What a caller may do. Each route needs one role (or none: open routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// QIDO, WADO, FHIR reads, the change feed.
    Read,
    /// STOW.
    Write,
    /// Deleting studies, series and instances.
    Delete,
    /// API keys, reading the audit trail, metrics (unless open).
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Read, Role::Write, Role::Delete, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Delete => "delete",
            Role::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Role::Read => 1,
            Role::Write => 2,
            Role::Delete => 4,
            Role::Admin => 8,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected read, write, delete or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == name.trim())
            .ok_or_else(|| UnknownRole(name.to_string()))
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub const NONE: Roles = Roles(0);
    pub const ALL: Roles = Roles(15);

    pub fn with(self, role: Role) -> Roles {
        Roles(self.0 | role.bit())
    }

    pub fn has(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.has(*r))
    }

    /// Comma-separated names, in the order of [`Role::ALL`].
    pub fn names(self) -> String {
        self.iter().map(Role::name).collect::<Vec<_>>().join(",")
    }

    /// Roles from a comma-separated list (`read,write`).
    pub fn parse_list(list: &str) -> Result<Roles, UnknownRole> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_fold(Roles::NONE, |roles, name| Ok(roles.with(name.parse()?)))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        iter.into_iter().fold(Roles::NONE, Roles::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_print_in_order() {
        let roles = Roles::parse_list("write, read").unwrap();
        assert!(roles.has(Role::Read) && roles.has(Role::Write) && !roles.has(Role::Admin));
        assert_eq!(roles.names(), "read,write");
        assert_eq!(Roles::parse_list("").unwrap(), Roles::NONE);
        assert_eq!(
            Roles::parse_list("read,owner").unwrap_err(),
            UnknownRole("owner".into())
        );
        assert_eq!(Roles::ALL.names(), "read,write,delete,admin");
    }
}
