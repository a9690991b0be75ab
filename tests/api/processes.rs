//! Real `tessera serve` processes (the built binary), configured through flags and
//! environment variables as an operator would: two nodes on one PostgreSQL and one S3
//! prefix, and a restart of the embedded default.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::helpers::*;
use crate::suite::{ct_variant, ct_variant_uid};

/// How `tessera serve` says, on stdout, where it listens once its socket is bound.
const LISTENING: &str = "tessera: listening on http://";

/// The lines a process wrote, stdout and stderr.
type Output = Arc<Mutex<Vec<String>>>;

pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) base: String,
    output: Output,
    /// The threads reading stdout and stderr as they come (the process never blocks on a
    /// full pipe); they end when the process does.
    readers: Vec<JoinHandle<()>>,
}

/// The address of a `tessera: listening on http://ADDR` line (log lines around it may
/// carry ANSI colour codes).
fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(LISTENING)? + LISTENING.len()..];
    rest.split(|c: char| c.is_whitespace() || c == '\x1b')
        .next()?
        .parse()
        .ok()
}

/// Read `pipe` to its end into `output`, line by line; the first address announced goes to
/// `listening`.
fn drain(
    pipe: impl Read + Send + 'static,
    output: Output,
    mut listening: Option<oneshot::Sender<SocketAddr>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            line.clear();
            if let Some(address) = listening_address(&text) {
                if let Some(tx) = listening.take() {
                    let _ = tx.send(address);
                }
            }
            output.lock().unwrap().push(text);
        }
    })
}

impl Node {
    /// `tessera serve --listen 127.0.0.1:0`: the system picks a free port and the process
    /// says which (no port is reserved here and released, which another process could take
    /// in between).
    pub(crate) async fn start(data_dir: &std::path::Path, extra: &[(&str, String)]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("TESSERA_SWEEP_INTERVAL", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start tessera");
        let output = Output::default();
        let (tx, rx) = oneshot::channel();
        let readers = vec![
            drain(child.stdout.take().unwrap(), Arc::clone(&output), Some(tx)),
            drain(child.stderr.take().unwrap(), Arc::clone(&output), None),
        ];
        let mut node = Node {
            child,
            base: String::new(),
            output,
            readers,
        };
        let limit = Duration::from_secs(30);
        let address = match tokio::time::timeout(limit, rx).await {
            Ok(Ok(address)) => address,
            // Its stdout closed without the line.
            Ok(Err(_)) => node.fail("ended its output without saying where it listens"),
            Err(_) => node.fail(&format!("did not say where it listens within {limit:?}")),
        };
        node.base = format!("http://{address}");
        match reqwest::get(format!("{}/healthz", node.base)).await {
            Ok(r) if r.status() == 200 => node,
            other => {
                let what = format!("at {} is not healthy: {other:?}", node.base);
                node.fail(&what)
            }
        }
    }

    /// Stop the process and fail the test, showing what the process wrote.
    fn fail(mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("not known: {e}"),
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        // Taken: not shown a second time when the panic drops the node.
        let output = std::mem::take(&mut *self.output.lock().unwrap());
        panic!(
            "tessera {what} ({status}); its output:\n{}",
            output.join("\n")
        );
    }

    pub(crate) async fn stow(&self, parts: &[Bytes]) -> StowResult {
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

    pub(crate) fn stop(mut self) {
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
        if std::thread::panicking() {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
            // No second panic while unwinding, whatever the state of the lock.
            let output = self.output.lock().unwrap_or_else(|e| e.into_inner());
            if output.is_empty() {
                return;
            }
            eprintln!("output of tessera at {}:\n{}", self.base, output.join("\n"));
        }
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

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[("TESSERA_LOG_FORMAT", "json".to_string())]).await;
    assert_eq!(node.stow(&[ct_variant(1)]).await.status, 200);
    let lines = node.output.lock().unwrap().clone();
    node.stop();
    let mut objects = Vec::new();
    for line in &lines {
        // The listening line is the one plain line, for supervisors (see `announce`).
        if line.starts_with(LISTENING) {
            continue;
        }
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(object["timestamp"].is_string(), "{line}");
        assert!(object["level"].is_string(), "{line}");
        objects.push(object);
    }
    let ready = objects
        .iter()
        .find(|o| o["message"] == "tessera ready")
        .unwrap_or_else(|| panic!("no ready line in {lines:#?}"));
    assert_eq!(ready["level"], "INFO");
    let stow = objects
        .iter()
        .find(|o| o["message"] == "stow done")
        .unwrap_or_else(|| panic!("no stow line in {lines:#?}"));
    assert_eq!(stow["span"]["stored"], 1, "{stow}");
}
