//! Bearer tokens: every case of the issue's list, one test each, against the real app with a
//! token issuer on loopback (auth_support.rs says why that issuer is the tests' own).

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::auth_support::*;
use crate::helpers::{Backend, TestApp};

const STUDIES: &str = "/dicom-web/studies";

struct Setup {
    app: TestApp,
    issuer: TestIssuer,
    rs: TestKey,
}

async fn setup() -> Setup {
    let rs = TestKey::rsa("rs-1", Algorithm::RS256, 0);
    let issuer = TestIssuer::start(&[&rs]).await;
    let app = app_with_issuer(Backend::SQLITE_MEMORY, &issuer).await;
    Setup { app, issuer, rs }
}

/// Asserts a 401 invalid_token whose description contains `why`.
async fn refused(app: &TestApp, token: &str, why: &str) {
    let (status, challenge, body) = get_as(app, STUDIES, Some(token)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(why) && body.contains(why),
        "expected {why:?} in {challenge} / {body}"
    );
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn no_token_is_401_with_a_bearer_challenge() {
    let s = setup().await;
    let (status, challenge, body) = get_as(&s.app, STUDIES, None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, r#"Bearer realm="tessera""#);
    assert!(body.contains("authentication required"), "{body}");
    // Health stays open.
    assert_eq!(get_as(&s.app, "/healthz", None).await.0, 200);
}

#[tokio::test]
async fn rs256_token_is_accepted_and_its_roles_apply() {
    let s = setup().await;
    let token = s.rs.sign(&claims(&s.issuer.url, &["read"]));
    let (status, _, body) = get_as(&s.app, STUDIES, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    // read only: a STOW is refused naming the role.
    let response = s
        .app
        .client
        .post(s.app.url(STUDIES))
        .bearer_auth(&token)
        .header("content-type", "application/dicom")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("the write role is required"));
}

#[tokio::test]
async fn ps256_and_es256_tokens_are_accepted() {
    let ps = TestKey::rsa("ps-1", Algorithm::PS256, 1);
    let es = TestKey::ec("es-1");
    let issuer = TestIssuer::start(&[&ps, &es]).await;
    let app = app_with_issuer(Backend::SQLITE_MEMORY, &issuer).await;
    for key in [&ps, &es] {
        let token = key.sign(&claims(&issuer.url, &["read"]));
        let (status, _, body) = get_as(&app, STUDIES, Some(&token)).await;
        assert_eq!(status, 200, "{:?}: {body}", key.alg);
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let s = setup().await;
    let header = json!({"alg": "none", "typ": "JWT", "kid": "rs-1"});
    let token = format!(
        "{}.{}.",
        b64(&header),
        b64(&claims(&s.issuer.url, &["read"]))
    );
    refused(&s.app, &token, "not a JWT Tessera accepts").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let s = setup().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rs-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(&s.issuer.url, &["read", "admin"]),
        &EncodingKey::from_secret(&s.rs.public_pem),
    )
    .unwrap();
    refused(&s.app, &token, "algorithm HS256 is not accepted").await;
}

#[tokio::test]
async fn a_kid_of_another_algorithm_is_refused() {
    // ES256 in the header, the RSA key's id: the RSA key must not be tried as an EC key.
    let s = setup().await;
    let es = TestKey::ec("rs-1");
    let token = es.sign(&claims(&s.issuer.url, &["read"]));
    refused(&s.app, &token, "is not a key for ES256").await;
}

#[tokio::test]
async fn another_audience_is_refused() {
    let s = setup().await;
    let mut c = claims(&s.issuer.url, &["read"]);
    c["aud"] = json!("https://other.test/api");
    refused(&s.app, &s.rs.sign(&c), "another audience").await;
}

#[tokio::test]
async fn an_audience_list_holding_ours_is_accepted() {
    let s = setup().await;
    let mut c = claims(&s.issuer.url, &["read"]);
    c["aud"] = json!(["https://other.test/api", AUDIENCE]);
    let (status, _, body) = get_as(&s.app, STUDIES, Some(&s.rs.sign(&c))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let s = setup().await;
    let mut c = claims(&s.issuer.url, &["read"]);
    c["exp"] = json!(now() - 120);
    refused(&s.app, &s.rs.sign(&c), "expired").await;
}

#[tokio::test]
async fn a_token_within_the_clock_skew_is_accepted() {
    // Expired 20 s ago, not valid for another 20 s: both inside the default 60 s skew.
    let s = setup().await;
    let mut c = claims(&s.issuer.url, &["read"]);
    c["exp"] = json!(now() - 20);
    c["nbf"] = json!(now() + 20);
    let (status, _, body) = get_as(&s.app, STUDIES, Some(&s.rs.sign(&c))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let s = setup().await;
    let mut c = claims(&s.issuer.url, &["read"]);
    c["nbf"] = json!(now() + 300);
    refused(&s.app, &s.rs.sign(&c), "not valid yet").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let s = setup().await;
    let mut c = claims(&s.issuer.url, &["read"]);
    c.as_object_mut().unwrap().remove("exp");
    refused(&s.app, &s.rs.sign(&c), "has no exp claim").await;
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let s = setup().await;
    let token = s.rs.sign(&claims(&s.issuer.url, &["read"]));
    // The same header and signature over other claims (more roles).
    let forged_claims = b64(&claims(&s.issuer.url, &["read", "delete", "admin"]));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    refused(&s.app, &forged, "signature is not valid").await;
}

#[tokio::test]
async fn another_issuer_is_refused() {
    let s = setup().await;
    let c = claims("https://evil.test", &["read"]);
    refused(&s.app, &s.rs.sign(&c), "is not trusted").await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_without_restart_and_refetches_are_rate_limited() {
    let s = setup().await;
    let first = s.rs.sign(&claims(&s.issuer.url, &["read"]));
    assert_eq!(get_as(&s.app, STUDIES, Some(&first)).await.0, 200);
    assert_eq!(s.issuer.fetches(), 1);
    // The issuer rotates to a new key; wait out the refetch interval, then its tokens pass.
    let next = TestKey::rsa("rs-2", Algorithm::RS256, 1);
    s.issuer.publish(&[&s.rs, &next]);
    tokio::time::sleep(tessera::auth::issuer::MIN_REFRESH).await;
    let rotated = next.sign(&claims(&s.issuer.url, &["read"]));
    let (status, _, body) = get_as(&s.app, STUDIES, Some(&rotated)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.issuer.fetches(), 2);
    // A flood of made-up key ids right after: refused, and the issuer is not asked again.
    for n in 0..20 {
        let fake = TestKey::rsa(&format!("made-up-{n}"), Algorithm::RS256, 1);
        refused(
            &s.app,
            &fake.sign(&claims(&s.issuer.url, &["read"])),
            "the issuer has no key",
        )
        .await;
    }
    assert_eq!(
        s.issuer.fetches(),
        2,
        "unknown kids within 5 s cause no fetch"
    );
}

#[tokio::test]
async fn roles_from_a_nested_claim_through_a_role_map() {
    let rs = TestKey::rsa("rs-1", Algorithm::RS256, 0);
    let issuer = TestIssuer::start(&[&rs]).await;
    let url = issuer.url.clone();
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, move |s| {
        require_auth(s, Some(&url));
        s.oidc_roles_claim = "realm_access.roles".into();
        s.oidc_role_map = vec!["dicom-reader=read".into(), "dicom-admin=admin".into()];
    })
    .await;
    let mut c = claims(&issuer.url, &[]);
    c["realm_access"] = json!({"roles": ["dicom-admin", "read"]});
    let token = rs.sign(&c);
    // dicom-admin maps to admin; a bare "read" is not in the map and gives nothing.
    assert_eq!(get_as(&app, "/fhir/AuditEvent", Some(&token)).await.0, 200);
    let (status, _, body) = get_as(&app, STUDIES, Some(&token)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("the read role is required"));
}

#[tokio::test]
async fn api_keys_work_without_an_issuer_and_revoked_ones_are_refused() {
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| {
        require_auth(s, None);
        s.api_key_recheck_ms = 0;
    })
    .await;
    let key = api_key(&app, "scanner", "read,write").await;
    assert_eq!(get_as(&app, STUDIES, Some(&key)).await.0, 200);
    refused(&app, "tsk_not-a-key-anyone-made", "unknown API key").await;
    // A JWT with no issuer configured.
    let rs = TestKey::rsa("rs-1", Algorithm::RS256, 0);
    refused(
        &app,
        &rs.sign(&claims("http://127.0.0.1:1", &["read"])),
        "no token issuer is configured",
    )
    .await;
    tessera::keys::revoke(&app.settings, "scanner")
        .await
        .unwrap();
    refused(&app, &key, "was revoked").await;
    let keys = tessera::keys::list(&app.settings).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "scanner");
    assert_eq!(keys[0].roles, "read,write");
    assert!(keys[0].revoked_at.is_some());
    assert!(keys[0].last_used_at.is_some(), "its use was recorded");
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_every_node_at_once() {
    // Two nodes on one PostgreSQL, looking keys up on every request.
    let a = TestApp::spawn_with(Backend::POSTGRES_MEMORY, |s| {
        require_auth(s, None);
        s.api_key_recheck_ms = 0;
    })
    .await;
    let b = TestApp::start(a.settings.clone(), std::sync::Arc::clone(&a.dir)).await;
    let key = api_key(&a, "gateway", "read").await;
    for node in [&a, &b] {
        assert_eq!(get_as(node, STUDIES, Some(&key)).await.0, 200);
    }
    tessera::keys::revoke(&b.settings, "gateway").await.unwrap();
    for node in [&a, &b] {
        refused(node, &key, "was revoked").await;
    }
}

#[tokio::test]
async fn with_the_default_recheck_a_revoked_key_is_refused_everywhere_within_a_second() {
    // The default: each node trusts a key it looked up for 1 s (the benchmark says why).
    let a = TestApp::spawn_with(Backend::POSTGRES_MEMORY, |s| require_auth(s, None)).await;
    assert_eq!(a.settings.api_key_recheck_ms, 1000);
    let b = TestApp::start(a.settings.clone(), std::sync::Arc::clone(&a.dir)).await;
    let key = api_key(&a, "gateway", "read").await;
    for node in [&a, &b] {
        assert_eq!(get_as(node, STUDIES, Some(&key)).await.0, 200);
    }
    let revoked = std::time::Instant::now();
    tessera::keys::revoke(&a.settings, "gateway").await.unwrap();
    for node in [&a, &b] {
        loop {
            let (status, _, body) = get_as(node, STUDIES, Some(&key)).await;
            if status == 401 {
                assert!(body.contains("was revoked"), "{body}");
                break;
            }
            assert_eq!(status, 200);
            assert!(
                revoked.elapsed() < std::time::Duration::from_millis(1500),
                "still accepted 1.5 s after its revocation"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert!(revoked.elapsed() < std::time::Duration::from_millis(1500));
}

#[tokio::test]
async fn metrics_need_admin_unless_open() {
    let closed = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| require_auth(s, None)).await;
    assert_eq!(get_as(&closed, "/metrics", None).await.0, 401);
    let reader = api_key(&closed, "reader", "read").await;
    assert_eq!(get_as(&closed, "/metrics", Some(&reader)).await.0, 403);
    let open = TestApp::spawn_with(Backend::SQLITE_MEMORY, |s| {
        require_auth(s, None);
        s.metrics_open = true;
    })
    .await;
    let (status, _, body) = get_as(&open, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE"), "{body}");
    // Only metrics: the archive stays closed.
    assert_eq!(get_as(&open, STUDIES, None).await.0, 401);
}
