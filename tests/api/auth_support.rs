//! What the access tests share: signing keys, a token issuer on loopback, and apps with
//! authentication on.
//!
//! The issuer here is the tests' own (discovery document and JWKS served by axum), not a
//! real OpenID provider: forged tokens (alg none, HS256 signed with the public key, a key
//! id of another algorithm, a rotated key) can only be made with keys the test holds. The
//! real provider (oidc-provider, tests/support/oidc-provider) signs the tokens of the
//! browser and Python tests.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tessera::auth::AuthMode;
use tessera::config::Settings;

use crate::helpers::{Backend, TestApp};

pub const AUDIENCE: &str = "https://tessera.test/dicom-web";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
    /// The public key as PEM (what an algorithm-confusion attack uses as an HMAC secret).
    pub public_pem: Vec<u8>,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl (the command) is needed to make RSA test keys");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An RSA key pair: private PEM, public PEM, modulus bytes.
type RsaMaterial = (Vec<u8>, Vec<u8>, Vec<u8>);

/// A 2048-bit RSA key pair made by the openssl command into a temporary folder.
fn rsa_material() -> RsaMaterial {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("key.pem");
    let private_s = private.to_str().unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private_s,
    ]);
    let public = openssl(&["pkey", "-in", private_s, "-pubout"]);
    let modulus =
        String::from_utf8(openssl(&["rsa", "-in", private_s, "-noout", "-modulus"])).unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    (std::fs::read(&private).unwrap(), public, n)
}

impl TestKey {
    /// An RSA key for `alg` (RS256 or PS256). Key generation takes a moment, so the two RSA
    /// pairs the tests need are made once per run and shared.
    pub fn rsa(kid: &str, alg: Algorithm, pair: usize) -> TestKey {
        static PAIRS: OnceLock<Vec<RsaMaterial>> = OnceLock::new();
        let pairs = PAIRS.get_or_init(|| vec![rsa_material(), rsa_material()]);
        let (private, public, n) = &pairs[pair];
        TestKey {
            kid: kid.into(),
            alg,
            encoding: EncodingKey::from_rsa_pem(private).unwrap(),
            jwk: json!({
                "kty": "RSA", "use": "sig", "kid": kid, "alg": format!("{alg:?}"),
                "n": b64(n), "e": b64(&[1, 0, 1]),
            }),
            public_pem: public.clone(),
        }
    }

    /// A P-256 key for ES256.
    pub fn ec(kid: &str) -> TestKey {
        let pair = rcgen::KeyPair::generate().unwrap();
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
        TestKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwk: json!({
                "kty": "EC", "use": "sig", "kid": kid, "alg": "ES256", "crv": "P-256",
                "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
            }),
            public_pem: pair.public_key_pem().into_bytes(),
        }
    }

    /// A token with these claims, signed by this key, naming it by `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a token of `issuer` for Tessera's audience, valid for ten minutes.
pub fn claims(issuer: &str, roles: &[&str]) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "user-1", "client_id": "test-client",
        "iat": now(), "exp": now() + 600, "roles": roles,
    })
}

/// An issuer on loopback: discovery and a JWKS that a test can change, counting fetches.
pub struct TestIssuer {
    pub url: String,
    jwks: Arc<Mutex<Value>>,
    pub jwks_fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestIssuer {
    pub async fn start(keys: &[&TestKey]) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let jwks = Arc::new(Mutex::new(Value::Null));
        let fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/auth"),
            "token_endpoint": format!("{url}/token"),
        });
        let (served, counted) = (Arc::clone(&jwks), Arc::clone(&fetches));
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/jwks",
                get(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Json(served.lock().unwrap().clone())
                }),
            );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let issuer = TestIssuer {
            url,
            jwks,
            jwks_fetches: fetches,
            task,
        };
        issuer.publish(keys);
        issuer
    }

    /// Serve these keys from now on (a key rotation).
    pub fn publish(&self, keys: &[&TestKey]) {
        let set: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.jwks.lock().unwrap() = json!({ "keys": set });
    }

    pub fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Authentication required, tokens of `issuer` for [`AUDIENCE`] accepted.
pub fn require_auth(settings: &mut Settings, issuer: Option<&str>) {
    settings.auth = AuthMode::Required;
    settings.oidc_issuers = issuer.map(|i| vec![i.to_string()]).unwrap_or_default();
    settings.oidc_audience = issuer.map(|_| AUDIENCE.to_string());
}

/// An app with authentication required, trusting `issuer`.
pub async fn app_with_issuer(backend: Backend, issuer: &TestIssuer) -> TestApp {
    let url = issuer.url.clone();
    TestApp::spawn_with(backend, move |s| require_auth(s, Some(&url))).await
}

/// An API key created in the app's index with these roles (as `tessera api-key create`).
pub async fn api_key(app: &TestApp, name: &str, roles: &str) -> String {
    let roles: Vec<String> = roles.split(',').map(String::from).collect();
    let (secret, _) = tessera::keys::create(&app.settings, name, &roles)
        .await
        .unwrap_or_else(|e| panic!("api key {name}: {e}"));
    secret
}

/// GET with a bearer token (or none): (status, WWW-Authenticate, body).
pub async fn get_as(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge, response.text().await.unwrap())
}
