//! Authentication and authorization: who the caller is (an OpenID Connect bearer token or
//! an API key) and whether their roles allow the route.
//!
//! - [`authenticator`]: a bearer credential to a [`Principal`].
//! - [`issuer`]: an issuer's keys (discovery, JWKS, rotation).
//! - [`api_key`]: API key secrets and their store.
//! - [`claims`]: roles from token claims; [`partitions`]: the partitions a caller may use.
//! - [`role`], [`mode`], [`principal`], [`error`].

pub mod api_key;
pub mod authenticator;
pub mod claims;
mod error;
pub mod issuer;
pub mod mode;
pub mod partitions;
mod principal;
pub mod role;

pub use authenticator::{AuthSettings, Authenticator};
pub use claims::RoleMapping;
pub use error::AuthError;
pub use mode::{AuthMode, UnknownAuthMode};
pub use partitions::PartitionAccess;
pub use principal::Principal;
pub use role::{Role, Roles, UnknownRole};
