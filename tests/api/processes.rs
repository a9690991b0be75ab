//! Real `tessera serve` processes (the built binary), configured through flags and
//! environment variables as an operator would: two nodes on one PostgreSQL and one S3
//! prefix, and a restart of the embedded default.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::helpers::*;
use crate::suite::{ct_variant, ct_variant_uid};

struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(data_dir: &std::path::Path, extra: &[(&str, String)]) -> Node {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .env("TESSERA_SWEEP_INTERVAL", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("start tessera");
        let node = Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", node.base)).send().await {
                if r.status().as_u16() == 200 {
                    return node;
                }
            }
            assert!(
                Instant::now() < deadline,
                "tessera at {} never became healthy",
                node.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stow(&self, parts: &[Bytes]) -> StowResult {
        let response = reqwest::Client::new()
            .post(format!("{}/dicom-web/studies", self.base))
            .header(
                "content-type",
                "multipart/related; type=\"application/dicom\"; boundary=b",
            )
            .body(multipart_body("b", parts))
            .send()
            .await
            .unwrap();
        StowResult::from(response).await
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn two_processes_share_postgres_and_s3() {
    let database = fresh_postgres_database().await;
    let storage = fresh_s3_url();
    let env = [
        ("TESSERA_DATABASE_URL", database),
        ("TESSERA_STORAGE_URL", storage),
    ];
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(
        Node::start(dir_a.path(), &env),
        Node::start(dir_b.path(), &env)
    );

    let stored = a.stow(&[ct_variant(1)]).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    // B knows it: the same instance through B is a duplicate.
    let again = b.stow(&[ct_variant(1)]).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.failure_reasons(), vec![0x0111]);
    // And what B stores, A knows.
    assert_eq!(b.stow(&[ct_variant(2)]).await.status, 200);
    let again = a.stow(&[ct_variant(2), ct_variant(3)]).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.failure_reasons(), vec![0x0111]);
    assert_eq!(
        again.referenced()[0]["00081155"]["Value"][0],
        ct_variant_uid(3)
    );
    // Neither node wrote anything locally: all state is in PostgreSQL and S3.
    for dir in [&dir_a, &dir_b] {
        assert!(!dir.path().join("index.db").exists());
        assert!(!dir.path().join("blobs").exists());
    }
    a.stop();
    b.stop();
}

#[tokio::test]
async fn restart_of_the_embedded_default_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]).await;
    assert_eq!(node.stow(&[ct_variant(7)]).await.status, 200);
    node.stop();
    assert!(dir.path().join("index.db").exists());
    assert!(dir.path().join("blobs").join("instances").exists());

    let node = Node::start(dir.path(), &[]).await;
    let again = node.stow(&[ct_variant(7)]).await;
    assert_eq!(
        again.failure_reasons(),
        vec![0x0111],
        "the restarted node remembers"
    );
    node.stop();
}
