//! Authentication and authorization: who the caller is (an OpenID Connect bearer token or
//! an API key) and whether their roles allow the route.

pub mod role;

pub use role::{Role, Roles, UnknownRole};
pub mod mode;

pub use mode::{AuthMode, UnknownAuthMode};
