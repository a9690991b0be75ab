//! API keys for scripts, modalities and gateways: a random secret shown once, stored only as
//! its SHA-256 in the index (so every node sees the same keys), sent as a bearer token.
//!
//! A fast hash is enough: the secret is 256 random bits, not a password a person chose, so
//! there is nothing for a slow hash to protect against guessing.

use async_trait::async_trait;
use base64::Engine;
use rand::RngCore;

/// What every secret starts with, so that a key is told from a JWT at a glance (and found
/// by secret scanners).
pub const PREFIX: &str = "tsk_";

/// An API key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// Comma-separated role names, as given at creation.
    pub roles: String,
    /// Comma-separated partition names the key is limited to; `None`: every partition.
    pub partitions: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Where keys are kept (the index).
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Store a new key; `Ok(false)` when a live key has that name already.
    async fn create_api_key(
        &self,
        name: &str,
        secret_hash: &str,
        roles: &str,
        partitions: Option<&str>,
        now_micros: i64,
    ) -> Result<bool, KeyStoreError>;
    /// The key, live or revoked, whose secret has this hash.
    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, KeyStoreError>;
    /// Every key, oldest first.
    async fn api_keys(&self) -> Result<Vec<ApiKey>, KeyStoreError>;
    /// Revoke the live key of this name; `Ok(false)` when there is none.
    async fn revoke_api_key(&self, name: &str, now_micros: i64) -> Result<bool, KeyStoreError>;
    /// Record that the key was used.
    async fn touch_api_key(&self, id: i64, now_micros: i64) -> Result<(), KeyStoreError>;
}

/// The key store failed (the index's error, as text: this layer does not know the index).
#[derive(Debug, Clone, thiserror::Error)]
#[error("API key store: {0}")]
pub struct KeyStoreError(pub String);

/// A new secret: the prefix and 32 random bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret: its SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    crate::digest::sha256_hex(secret.as_bytes())
}

/// Whether a bearer token is an API key (rather than a JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hash_to_hex() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(is_api_key(&a));
        assert_eq!(a.len(), PREFIX.len() + 43);
        let hash = hash_secret(&a);
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash, hash_secret(&a));
        assert_ne!(hash, hash_secret(&b));
        assert!(!is_api_key("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
        // FIPS 180-2's example.
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
