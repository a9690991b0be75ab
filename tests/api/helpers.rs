//! Spawn the real application on port 0 against a chosen index and blob store, and talk to
//! it over HTTP. PostgreSQL and S3 are real servers (scripts/test.sh starts them); a test
//! whose backend is missing fails with a message saying so, it never skips.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sqlx::Connection;
use tessera::app::Application;
use tessera::config::Settings;
use tessera::http::AppState;
use tessera::index::DuplicatePolicy;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Local,
    Memory,
    S3,
    /// Azure Blob Storage, through Azurite (scripts/test/azurite.sh).
    Azure,
}

/// One case of the backend matrix: the index and the blob store an app runs on. The
/// `backend_tests!` macro (macros.rs) runs a test once per backend of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    pub index: IndexKind,
    pub storage: StorageKind,
}

impl Backend {
    pub const SQLITE_LOCAL: Backend = Backend::new(IndexKind::Sqlite, StorageKind::Local);
    pub const SQLITE_MEMORY: Backend = Backend::new(IndexKind::Sqlite, StorageKind::Memory);
    pub const SQLITE_S3: Backend = Backend::new(IndexKind::Sqlite, StorageKind::S3);
    pub const POSTGRES_LOCAL: Backend = Backend::new(IndexKind::Postgres, StorageKind::Local);
    pub const POSTGRES_MEMORY: Backend = Backend::new(IndexKind::Postgres, StorageKind::Memory);
    pub const POSTGRES_S3: Backend = Backend::new(IndexKind::Postgres, StorageKind::S3);
    pub const SQLITE_AZURE: Backend = Backend::new(IndexKind::Sqlite, StorageKind::Azure);
    pub const POSTGRES_AZURE: Backend = Backend::new(IndexKind::Postgres, StorageKind::Azure);

    pub const fn new(index: IndexKind, storage: StorageKind) -> Backend {
        Backend { index, storage }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub settings: Settings,
    pub dir: Arc<tempfile::TempDir>,
    /// The DICOM port, when the settings turn it on.
    pub dimse: Option<std::net::SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The repository's root folder (these tests belong to crates/tessera).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn testdata(name: &str) -> PathBuf {
    repo_root().join("testdata").join(name)
}

pub fn read_testdata(name: &str) -> Bytes {
    Bytes::from(std::fs::read(testdata(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(testdata("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_string())
}

/// A fresh, empty PostgreSQL database; its URL.
pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL test backend unavailable at {admin}: {e}. \
             Run scripts/test.sh, which starts it, or set TESSERA_TEST_POSTGRES_URL."
            )
        });
    let name = format!("tessera_t_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A fresh prefix in the test bucket of the real S3-compatible server.
pub fn fresh_s3_url() -> String {
    let endpoint = std::env::var("TESSERA_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "S3 test backend not configured: TESSERA_TEST_S3_ENDPOINT is unset. \
             Run scripts/test.sh, which starts Garage and sets it."
        )
    });
    let bucket = std::env::var("TESSERA_TEST_S3_BUCKET").expect("TESSERA_TEST_S3_BUCKET");
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "garage".into());
    format!(
        "s3://{bucket}/t{:016x}?endpoint={endpoint}&region={region}",
        rand::random::<u64>()
    )
}

/// A fresh prefix in the test container of Azurite, the Azure Storage emulator; the account
/// and its key come from the environment (AZURE_STORAGE_ACCOUNT_NAME/KEY), as in production.
pub fn fresh_azure_url() -> String {
    let endpoint = std::env::var("TESSERA_TEST_AZURE_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "Azure test backend not configured: TESSERA_TEST_AZURE_ENDPOINT is unset. \
             Run scripts/test.sh, which starts Azurite and sets it."
        )
    });
    let container =
        std::env::var("TESSERA_TEST_AZURE_CONTAINER").expect("TESSERA_TEST_AZURE_CONTAINER");
    format!(
        "az://{container}/t{:016x}?endpoint={endpoint}",
        rand::random::<u64>()
    )
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_data_dir(dir.path()).unwrap();
        settings.sweep_interval = 0;
        settings.duplicate_policy = DuplicatePolicy::Reject;
        if backend.index == IndexKind::Postgres {
            settings.database_url = Some(fresh_postgres_database().await);
        }
        match backend.storage {
            StorageKind::Local => {}
            StorageKind::Memory => settings.storage_url = Some("memory://".into()),
            StorageKind::S3 => settings.storage_url = Some(fresh_s3_url()),
            StorageKind::Azure => settings.storage_url = Some(fresh_azure_url()),
        }
        tweak(&mut settings);
        Self::start(settings, Arc::new(dir)).await
    }

    /// Start an app on exactly these settings (e.g. a second node or a restart).
    pub async fn start(settings: Settings, dir: Arc<tempfile::TempDir>) -> TestApp {
        let app = Application::build(settings.clone())
            .await
            .unwrap_or_else(|e| panic!("application failed to start: {e}"));
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let dimse = app.dimse_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("server failed");
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            state,
            settings,
            dir,
            dimse,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stop serving and wait until the server is gone.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST a multipart/related STOW request with these parts (each application/dicom).
    pub async fn stow(&self, parts: &[Bytes]) -> reqwest::Response {
        self.stow_to("/dicom-web/studies", parts).await
    }

    pub async fn stow_to(&self, path: &str, parts: &[Bytes]) -> reqwest::Response {
        let boundary = "tessera-test-boundary-7d1f";
        self.client
            .post(self.url(path))
            .header(
                "content-type",
                format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
            )
            .body(multipart_body(boundary, parts))
            .send()
            .await
            .unwrap()
    }

    /// STOW one instance and parse the answer.
    pub async fn stow_one(&self, part: &Bytes) -> StowResult {
        StowResult::from(self.stow(std::slice::from_ref(part)).await).await
    }

    /// The bytes stored for a SOP Instance UID (through its index row).
    pub async fn stored_bytes(&self, sop: &str) -> Bytes {
        let sop = tessera_dicom::uid::SopInstanceUid::parse(sop).unwrap();
        let row = self
            .state
            .index
            .instance(&sop)
            .await
            .unwrap()
            .expect("no index row");
        self.state.store.get(&row.blob_key).await.unwrap()
    }

    /// The DICOM JSON the index keeps for one instance (relative BulkDataURIs).
    pub async fn stored_metadata(&self, study: &str, series: &str, sop: &str) -> String {
        use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};
        let (study, series, sop) = (
            StudyUid::parse(study).unwrap(),
            SeriesUid::parse(series).unwrap(),
            SopInstanceUid::parse(sop).unwrap(),
        );
        let mut documents = self
            .state
            .index
            .instance_documents(&study, Some(&series), Some(&sop))
            .await
            .unwrap();
        assert_eq!(documents.len(), 1, "documents of {sop}");
        documents.remove(0).metadata
    }

    pub async fn study(&self, uid: &str) -> Option<tessera::index::StudyRow> {
        let uid = tessera_dicom::uid::StudyUid::parse(uid).unwrap();
        self.state.index.study(&uid).await.unwrap()
    }

    pub async fn series(&self, uid: &str) -> Option<tessera::index::SeriesRow> {
        let uid = tessera_dicom::uid::SeriesUid::parse(uid).unwrap();
        self.state.index.series(&uid).await.unwrap()
    }

    /// Raw POST to the STOW endpoint with any content type and body.
    pub async fn post_raw(&self, content_type: Option<&str>, body: Vec<u8>) -> reqwest::Response {
        let mut request = self.client.post(self.url("/dicom-web/studies")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send().await.unwrap()
    }

    pub async fn counts(&self) -> (i64, i64, i64) {
        self.state.index.counts().await.unwrap()
    }

    pub async fn blob_count(&self) -> usize {
        use futures::StreamExt;
        let items: Vec<_> = self.state.store.list_instances().collect().await;
        for item in &items {
            assert!(item.is_ok(), "listing blobs failed: {item:?}");
        }
        items.len()
    }

    /// Files in the staging folder (parts being received, or leaked).
    pub fn staging_files(&self) -> usize {
        std::fs::read_dir(&self.state.ingest.staging).map_or(0, |entries| entries.count())
    }

    /// Assert that nothing at all is stored: no rows, no blobs, no staging files.
    pub async fn assert_empty(&self, context: &str) {
        assert_eq!(self.counts().await, (0, 0, 0), "{context}: index rows left");
        assert_eq!(self.blob_count().await, 0, "{context}: blobs left");
        assert_eq!(self.staging_files(), 0, "{context}: staging files left");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn multipart_body(boundary: &str, parts: &[Bytes]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// The parsed STOW response with its HTTP status.
pub struct StowResult {
    pub status: u16,
    pub body: serde_json::Value,
    pub warning: Option<String>,
}

impl StowResult {
    pub async fn from(response: reqwest::Response) -> StowResult {
        let status = response.status().as_u16();
        let warning = response
            .headers()
            .get("warning")
            .map(|v| v.to_str().unwrap().to_string());
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "status {status}, content-type {content_type}: body is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        StowResult {
            status,
            body,
            warning,
        }
    }

    fn sequence(&self, tag: &str) -> Vec<serde_json::Value> {
        self.body
            .get(tag)
            .map(|e| e["Value"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// ReferencedSOPSequence items.
    pub fn referenced(&self) -> Vec<serde_json::Value> {
        self.sequence("00081199")
    }

    /// FailedSOPSequence items.
    pub fn failed(&self) -> Vec<serde_json::Value> {
        self.sequence("00081198")
    }

    /// FailureReason of every failed item.
    pub fn failure_reasons(&self) -> Vec<u64> {
        self.failed()
            .iter()
            .map(|i| i["00081197"]["Value"][0].as_u64().unwrap())
            .collect()
    }

    pub fn has_failed_sequence(&self) -> bool {
        self.body.get("00081198").is_some()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
