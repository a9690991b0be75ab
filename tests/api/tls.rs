//! HTTPS without a proxy: the app serves TLS from PEM files and picks up a renewed
//! certificate without a restart.

use std::path::Path;
use std::time::Duration;

use crate::helpers::{Backend, TestApp};

/// A self-signed certificate for 127.0.0.1 written to `dir`: its PEM.
fn write_certificate(dir: &Path) -> String {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let pem = made.cert.pem();
    // Key first, then the certificate: a reload never sees a new certificate with the old key
    // for longer than one check (and refuses such a pair if it does).
    std::fs::write(dir.join("key.pem"), made.key_pair.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), &pem).unwrap();
    pem
}

fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn serves_https_and_reloads_a_renewed_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let first = write_certificate(certs.path());
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let app = TestApp::spawn_with(Backend::SQLITE_MEMORY, move |s| {
        s.tls_cert = Some(cert);
        s.tls_key = Some(key);
        s.tls_reload_interval = 1;
    })
    .await;
    let url = app.base.replace("http://", "https://") + "/healthz";
    let response = trusting(&first).get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Plain HTTP on the TLS port gets no answer.
    assert!(reqwest::get(app.url("/healthz")).await.is_err());

    // Renewed in place: after the next check, new connections get the new certificate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = write_certificate(certs.path());
    let mut switched = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if trusting(&second).get(&url).send().await.is_ok() {
            switched = true;
            break;
        }
    }
    assert!(switched, "the renewed certificate is served within 5 s");
    assert!(
        trusting(&first).get(&url).send().await.is_err(),
        "the old certificate is no longer served"
    );
}
