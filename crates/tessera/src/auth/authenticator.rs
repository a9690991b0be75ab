//! Who a bearer credential belongs to: an API key (looked up in the shared key store, and
//! trusted by a node for at most `api_key_recheck` before it looks again, so a revocation
//! holds on every node within that time) or a JWT from a configured issuer (verified once,
//! then kept until it expires).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{decode, decode_header, Validation};
use serde_json::Value;

use super::api_key::{hash_secret, is_api_key, ApiKeyStore};
use super::claims::RoleMapping;
use super::issuer::{Issuer, ACCEPTED};
use super::{AuthError, AuthMode, PartitionAccess, Principal, Roles};
use crate::time::now_micros;

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// Issuer URLs whose tokens are accepted.
    pub issuers: Vec<String>,
    /// The `aud` tokens must carry.
    pub audience: Option<String>,
    pub roles: RoleMapping,
    /// The claim (a dotted path) listing the partitions a token may use; a token without it
    /// may use every partition.
    pub partitions_claim: String,
    /// Allowed clock difference for `exp` and `nbf`.
    pub clock_skew: Duration,
    /// How long a node trusts an API key it looked up before looking again (zero: every
    /// request): the longest a revoked key still works on a node.
    pub api_key_recheck: Duration,
}

/// Verified tokens kept at most; past it the cache is emptied of expired ones, then cleared.
const CACHE_ENTRIES: usize = 4096;
/// How often a key's last use is written, per node.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

pub struct Authenticator {
    settings: AuthSettings,
    issuers: Vec<Issuer>,
    keys: Arc<dyn ApiKeyStore>,
    /// Verified JWTs: the token, its caller and its `exp` (seconds since the epoch).
    verified: Mutex<HashMap<String, (Principal, u64)>>,
    /// When each key's use was last written (by id).
    touched: Mutex<HashMap<i64, Instant>>,
    /// Live API keys looked up recently: the secret's hash, its caller, when looked up.
    keys_seen: Mutex<HashMap<String, (Principal, i64, Instant)>>,
}

fn now_secs() -> u64 {
    u64::try_from(now_micros() / 1_000_000).unwrap_or(0)
}

impl Authenticator {
    pub fn new(settings: AuthSettings, keys: Arc<dyn ApiKeyStore>, http: reqwest::Client) -> Self {
        let issuers = settings
            .issuers
            .iter()
            .map(|url| Issuer::new(url, http.clone()))
            .collect();
        Authenticator {
            settings,
            issuers,
            keys,
            verified: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            keys_seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.settings.mode
    }

    /// The caller of a request with this `Authorization` header value (if any).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        if self.settings.mode == AuthMode::None {
            return Ok(Principal::anonymous());
        }
        let header = authorization.ok_or(AuthError::Missing)?;
        let (scheme, token) = header.trim().split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::invalid(format!(
                "the {scheme} scheme is not accepted: use Bearer"
            )));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::invalid("the bearer token is empty"));
        }
        if is_api_key(token) {
            self.api_key(token).await
        } else {
            self.jwt(token).await
        }
    }

    async fn api_key(&self, secret: &str) -> Result<Principal, AuthError> {
        let hash = hash_secret(secret);
        let recheck = self.settings.api_key_recheck;
        if !recheck.is_zero() {
            let seen = self.keys_seen.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((principal, id, at)) = seen.get(&hash) {
                if at.elapsed() < recheck {
                    let (principal, id) = (principal.clone(), *id);
                    drop(seen);
                    self.touch(id);
                    return Ok(principal);
                }
            }
        }
        let key = self
            .keys
            .api_key_by_hash(&hash)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .ok_or_else(|| AuthError::invalid("unknown API key"))?;
        if key.revoked_at.is_some() {
            self.keys_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&hash);
            return Err(AuthError::invalid(format!(
                "API key {:?} was revoked",
                key.name
            )));
        }
        self.touch(key.id);
        let principal = Principal {
            subject: Some(format!("api-key:{}", key.name)),
            client_id: None,
            api_key: Some(key.name.clone()),
            issuer: None,
            roles: Roles::parse_list(&key.roles).unwrap_or(Roles::NONE),
            partitions: key
                .partitions
                .as_deref()
                .map_or(PartitionAccess::All, PartitionAccess::parse_list),
        };
        if !recheck.is_zero() {
            let mut seen = self.keys_seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= CACHE_ENTRIES {
                seen.retain(|_, (_, _, at)| at.elapsed() < recheck);
                if seen.len() >= CACHE_ENTRIES {
                    seen.clear();
                }
            }
            seen.insert(hash, (principal.clone(), key.id, Instant::now()));
        }
        Ok(principal)
    }

    /// Write the key's last use in the background, at most every [`TOUCH_EVERY`] per node.
    fn touch(&self, id: i64) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            let recent = touched
                .get(&id)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY);
            if recent {
                return;
            }
            touched.insert(id, Instant::now());
        }
        let keys = Arc::clone(&self.keys);
        tokio::spawn(async move {
            if let Err(err) = keys.touch_api_key(id, now_micros()).await {
                tracing::warn!(error = %err, "cannot record an API key's last use");
            }
        });
    }

    async fn jwt(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(principal) = self.cached(token) {
            return Ok(principal);
        }
        if self.issuers.is_empty() {
            return Err(AuthError::invalid(
                "no token issuer is configured: use an API key",
            ));
        }
        let header = decode_header(token)
            .map_err(|e| AuthError::invalid(format!("not a JWT Tessera accepts: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::invalid(format!(
                "algorithm {:?} is not accepted (RS256, PS256, ES256)",
                header.alg
            )));
        }
        let iss = unverified_issuer(token)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.is(&iss))
            .ok_or_else(|| AuthError::invalid(format!("issuer {iss:?} is not trusted")))?;
        let key = issuer.key(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.clock_skew.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer.url(), &format!("{}/", issuer.url())]);
        match &self.settings.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = decode::<Value>(token, &key, &validation).map_err(describe)?;
        let claims = data.claims;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(String::from);
        let principal = Principal {
            subject: text("sub"),
            client_id: text("client_id").or_else(|| text("azp")),
            api_key: None,
            issuer: Some(issuer.url().to_string()),
            roles: self.settings.roles.roles(&claims),
            partitions: PartitionAccess::from_claims(&claims, &self.settings.partitions_claim),
        };
        self.keep(token, &principal, exp);
        Ok(principal)
    }

    fn cached(&self, token: &str) -> Option<Principal> {
        let cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let (principal, exp) = cache.get(token)?;
        (now_secs() < exp + self.settings.clock_skew.as_secs()).then(|| principal.clone())
    }

    fn keep(&self, token: &str, principal: &Principal, exp: u64) {
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            let now = now_secs();
            let skew = self.settings.clock_skew.as_secs();
            cache.retain(|_, (_, exp)| now < *exp + skew);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), (principal.clone(), exp));
    }
}

/// The `iss` of a token before its signature is checked: only to choose whose keys check it.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| AuthError::invalid("not a JWT: no payload"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthError::invalid("not a JWT: the payload is not base64url"))?;
    let claims: Value = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::invalid("not a JWT: the payload is not JSON"))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| AuthError::invalid("the token has no iss claim"))
}

fn describe(err: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    let text = match err.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".to_string(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_string(),
        ErrorKind::InvalidAudience => "the token is for another audience".to_string(),
        ErrorKind::InvalidIssuer => "the token's issuer is not trusted".to_string(),
        ErrorKind::InvalidSignature => "the token's signature is not valid".to_string(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not fit its key".to_string(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        other => format!("the token is not valid: {other:?}"),
    };
    AuthError::InvalidToken(text)
}
