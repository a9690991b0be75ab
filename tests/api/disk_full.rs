//! The local store's disk full (issue 17): a real small file system (a tmpfs the test
//! mounts, as root) under the blob store. STOW answers 507 with the reason, in words and as
//! the failure reason of every instance of the request, keeps nothing of it, /healthz says
//! the storage is full; once space returns the same STOW succeeds.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;

use crate::helpers::{Backend, StowResult, TestApp};
use crate::suite::{ct_variant, ct_variant_uid};

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tessera-test"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (the test command runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fill `disk` with a file until less than `leave` bytes are free; the file's path.
fn fill(disk: &SmallDisk, leave: u64) -> PathBuf {
    let filler = disk.path().join("filler");
    let free = free_bytes(disk.path());
    let size = free.saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
    filler
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn blob_files(root: &Path) -> usize {
    walk(root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "filler"))
        .count()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn healthz(app: &TestApp) -> serde_json::Value {
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_full_disk_answers_507_keeps_nothing_and_recovers() {
    let disk = SmallDisk::mount("4m");
    let blobs = disk.path().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let url = format!("file://{}", blobs.display());
    let app = TestApp::spawn_with(Backend::SQLITE_LOCAL, move |s| s.storage_url = Some(url)).await;

    // Room for one instance before the disk is filled.
    let first = StowResult::from(app.stow(&[ct_variant(1)]).await).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let health = healthz(&app).await;
    assert_eq!(health["status"], "ok", "{health}");

    // About 60 KB left: the first of five 39 KB instances may fit, the request cannot.
    let filler = fill(&disk, 60 * 1024);
    let batch: Vec<Bytes> = (2..7).map(ct_variant).collect();
    let full = StowResult::from(app.stow(&batch).await).await;
    assert_eq!(full.status, 507, "{:?}", full.body);
    // Every instance read before the store failed is listed, each with A700; the parts
    // after it were never read.
    let failed: Vec<String> = full
        .failed()
        .iter()
        .map(|item| item["00081155"]["Value"][0].as_str().unwrap().to_string())
        .collect();
    assert!(!failed.is_empty(), "{:?}", full.body);
    let expected: Vec<String> = (2..7).map(ct_variant_uid).take(failed.len()).collect();
    assert_eq!(failed, expected);
    assert_eq!(
        full.failure_reasons(),
        vec![0xA700; failed.len()],
        "{:?}",
        full.body
    );
    let warning = full.warning.clone().unwrap_or_default();
    assert!(
        warning.contains("A700") && warning.contains("full"),
        "{warning}"
    );
    // Nothing of the request is kept: one instance in the index, one blob, no staging file.
    assert_eq!(app.counts().await, (1, 1, 1));
    assert_eq!(blob_files(&blobs), 1);
    assert_eq!(app.staging_files(), 0);
    let health = healthz(&app).await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["storage"], "full", "{health}");
    // Reads still work.
    assert_eq!(app.stored_bytes(&ct_variant_uid(1)).await, ct_variant(1));

    // Space returns: the same request succeeds, no restart.
    std::fs::remove_file(filler).unwrap();
    let again = StowResult::from(app.stow(&batch).await).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(app.counts().await, (1, 1, 6));
    assert_eq!(blob_files(&blobs), 6);
    for n in 1..7 {
        assert_eq!(app.stored_bytes(&ct_variant_uid(n)).await, ct_variant(n));
    }
    app.stop().await;
}
