//! One OpenID Connect issuer: its discovery document and signing keys (JWKS), fetched on
//! first use, kept, and fetched again when a token names a key id not yet known (the issuer
//! rotated its keys). Refetches are at most one per [`MIN_REFRESH`], so a flood of tokens
//! with made-up key ids cannot hammer the issuer.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::Mutex;

use super::AuthError;

/// The shortest time between two JWKS fetches of one issuer.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);

/// A usable public key of the issuer.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one.
    alg: Option<Algorithm>,
    family: Family,
    key: DecodingKey,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Rsa,
    EcP256,
}

/// The algorithms Tessera accepts, and the key family each needs.
fn family_of(alg: Algorithm) -> Option<Family> {
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => Some(Family::Rsa),
        Algorithm::ES256 => Some(Family::EcP256),
        _ => None,
    }
}

pub const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

struct Keys {
    keys: Vec<Key>,
    fetched: Option<Instant>,
}

/// An issuer and what is known of its keys.
pub struct Issuer {
    url: String,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

impl Issuer {
    pub fn new(url: &str, http: reqwest::Client) -> Issuer {
        Issuer {
            url: url.trim_end_matches('/').to_string(),
            http,
            keys: Mutex::new(Keys {
                keys: Vec::new(),
                fetched: None,
            }),
        }
    }

    /// The issuer URL as tokens name it (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a token's `iss` names this issuer.
    pub fn is(&self, iss: &str) -> bool {
        iss.trim_end_matches('/') == self.url
    }

    /// The key that verifies a token with this header's `kid` and `alg`.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let family = family_of(alg)
            .ok_or_else(|| AuthError::invalid(format!("algorithm {alg:?} is not accepted")))?;
        let mut keys = self.keys.lock().await;
        if let Some(found) = pick(&keys.keys, kid, alg, family)? {
            return Ok(found);
        }
        let due = keys.fetched.is_none_or(|at| at.elapsed() >= MIN_REFRESH);
        if !due {
            return Err(unknown_key(kid));
        }
        let fetched = self.fetch_keys().await;
        keys.fetched = Some(Instant::now());
        match fetched {
            Ok(fresh) => keys.keys = fresh,
            Err(err) => {
                tracing::warn!(issuer = %self.url, error = %err, "cannot fetch the issuer's keys");
                return Err(AuthError::Unavailable(format!(
                    "the keys of issuer {} could not be fetched",
                    self.url
                )));
            }
        }
        pick(&keys.keys, kid, alg, family)?.ok_or_else(|| unknown_key(kid))
    }

    async fn fetch_keys(&self) -> Result<Vec<Key>, String> {
        let discovery = format!("{}/.well-known/openid-configuration", self.url);
        let doc: Value = self.get_json(&discovery).await?;
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{discovery} names no jwks_uri"))?;
        let jwks: Value = self.get_json(jwks_uri).await?;
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{jwks_uri} holds no keys array"))?;
        // Each key on its own: one the parser does not know (an encryption key, another
        // curve) must not make the whole set unusable.
        Ok(keys.iter().filter_map(usable).collect())
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))
    }
}

fn unknown_key(kid: Option<&str>) -> AuthError {
    match kid {
        Some(kid) => AuthError::invalid(format!("the issuer has no key {kid:?}")),
        None => AuthError::invalid("the token names no key and the issuer has none for it"),
    }
}

/// The key for `kid` (or, without one, the first of the right family). A key found by its id
/// but of another algorithm or family is refused rather than skipped.
fn pick(
    keys: &[Key],
    kid: Option<&str>,
    alg: Algorithm,
    family: Family,
) -> Result<Option<DecodingKey>, AuthError> {
    let fits = |k: &Key| k.family == family && k.alg.is_none_or(|a| a == alg);
    match kid {
        Some(kid) => match keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
            Some(k) if fits(k) => Ok(Some(k.key.clone())),
            Some(_) => Err(AuthError::invalid(format!(
                "key {kid:?} is not a key for {alg:?}"
            ))),
            None => Ok(None),
        },
        None => Ok(keys.iter().find(|k| fits(k)).map(|k| k.key.clone())),
    }
}

/// A JWK Tessera can verify with: RSA, or EC on P-256; signing use only.
fn usable(value: &Value) -> Option<Key> {
    if value
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Family::Rsa,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Family::EcP256,
        _ => return None,
    };
    let alg = match value.get("alg").and_then(Value::as_str) {
        None => None,
        Some(name) => Some(name.parse::<Algorithm>().ok()?),
    };
    if alg.is_some_and(|a| family_of(a) != Some(family)) {
        return None;
    }
    Some(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        family,
        key: DecodingKey::from_jwk(&jwk).ok()?,
    })
}
