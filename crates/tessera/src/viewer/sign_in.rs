//! How the pages Tessera serves (OHIF at /viewer, the built-in page at /) sign in when
//! authentication is on: OpenID Connect authorization code with PKCE, as a public client.

use serde::Serialize;

/// The OpenID provider and public client the pages sign in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignIn {
    /// The issuer URL (OIDC discovery at `{authority}/.well-known/openid-configuration`).
    pub authority: String,
    /// The public client registered at the issuer for Tessera's pages.
    pub client_id: String,
    /// The scopes asked for, space-separated.
    pub scope: String,
}
