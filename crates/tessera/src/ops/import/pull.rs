//! `--from-dicomweb URL`: pull another archive (a Tessera, Orthanc, any DICOMweb server) the
//! way migrations are done: QIDO-RS `/studies` page by page (`limit` and `offset`), then each
//! study retrieved whole with WADO-RS (`/studies/{uid}`, `multipart/related;
//! type="application/dicom"; transfer-syntax=*`: as the server stores it) and its instances,
//! streamed part by part (memory up to the spool size, a staging file beyond), handed to the
//! workers as the walk hands files. Storing directly, a study the archive already holds
//! with at least as many instances as the server lists is not retrieved again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::candidate::{Candidate, Content, Limits};
use super::report::{FileResult, Status};
use super::sniff::{self, Kind};
use super::walk::Batch;
use super::OpsError;
use crate::index::Index;
use crate::ingest::spool::{PartSpool, Received};
use crate::ops::progress::Progress;
use tessera_dicom::uid::StudyUid;

pub struct Pull {
    client: reqwest::Client,
    root: String,
    token: Option<String>,
    /// Studies asked for per QIDO-RS page.
    page: usize,
    limits: Limits,
    /// The archive stored into directly (studies it has whole are skipped).
    index: Option<Arc<dyn Index>>,
    batches: mpsc::Sender<Batch>,
    results: mpsc::UnboundedSender<FileResult>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    batch: Batch,
    batch_bytes: u64,
}

impl Pull {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        root: &str,
        token: Option<String>,
        page: usize,
        limits: Limits,
        index: Option<Arc<dyn Index>>,
        batches: mpsc::Sender<Batch>,
        results: mpsc::UnboundedSender<FileResult>,
        progress: Arc<Progress>,
        stop: Arc<AtomicBool>,
    ) -> Result<Pull, OpsError> {
        let parsed = url::Url::parse(root).map_err(|err| {
            OpsError::Invalid(format!("--from-dicomweb {root}: not a URL: {err}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OpsError::Invalid(format!(
                "--from-dicomweb {root}: an http:// or https:// URL is needed"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| OpsError::Invalid(format!("cannot make an HTTP client: {err}")))?;
        Ok(Pull {
            client,
            root: root.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            page: page.max(1),
            limits,
            index,
            batches,
            results,
            progress,
            stop,
            batch: Vec::new(),
            batch_bytes: 0,
        })
    }

    /// Every study of the server, page by page. An error: the server could not be listed.
    pub async fn run(mut self) -> Result<(), OpsError> {
        let mut offset = 0;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let studies = self.page(offset).await?;
            if studies.is_empty() {
                break;
            }
            offset += studies.len();
            for (uid, listed) in studies {
                if self.stop.load(Ordering::Relaxed) {
                    break;
                }
                self.study(&uid, listed).await;
            }
        }
        self.flush().await;
        Ok(())
    }

    fn get(&self, url: &str, accept: &str) -> reqwest::RequestBuilder {
        let request = self.client.get(url).header(ACCEPT, accept);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// One QIDO-RS page: each study's UID and its number of instances, when given.
    async fn page(&self, offset: usize) -> Result<Vec<(String, Option<u64>)>, OpsError> {
        let url = format!(
            "{}/studies?limit={}&offset={offset}&includefield=00201208",
            self.root, self.page
        );
        let failed = |why: String| OpsError::Invalid(format!("QIDO-RS {url}: {why}"));
        let response = self
            .get(&url, "application/dicom+json")
            .send()
            .await
            .map_err(|err| failed(err.to_string()))?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok(Vec::new());
        }
        let text = response
            .text()
            .await
            .map_err(|err| failed(err.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(failed(format!("HTTP {status}: {}", text.trim())));
        }
        let json: Value = serde_json::from_str(&text).map_err(|err| failed(err.to_string()))?;
        let first = |study: &Value, tag: &str| study.get(tag)?.get("Value")?.get(0).cloned();
        Ok(json
            .as_array()
            .map(|studies| {
                studies
                    .iter()
                    .filter_map(|study| {
                        let uid = first(study, "0020000D")?.as_str()?.to_string();
                        let count = first(study, "00201208").and_then(|v| {
                            v.as_u64()
                                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        });
                        Some((uid, count))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether the archive stored into already has the study with at least `listed`
    /// instances.
    async fn held(&self, uid: &str, listed: Option<u64>) -> Option<i64> {
        let (index, listed) = (self.index.as_ref()?, listed?);
        let study = StudyUid::parse(uid).ok()?;
        let row = index.study(&study).await.ok()??;
        (row.num_instances >= 0 && row.num_instances as u64 >= listed).then_some(row.num_instances)
    }

    async fn study(&mut self, uid: &str, listed: Option<u64>) {
        let url = format!("{}/studies/{uid}", self.root);
        let path = PathBuf::from(&url);
        if let Some(held) = self.held(uid, listed).await {
            let result = FileResult::new(&path, None, Status::AlreadyStored, 0)
                .uids(None, Some(uid.to_string()))
                .message(format!(
                    "the study is already stored with {held} instances (not retrieved again)"
                ));
            return self.report(result);
        }
        let accept = "multipart/related; type=\"application/dicom\"; transfer-syntax=*";
        let response = match self.get(&url, accept).send().await {
            Ok(response) => response,
            Err(err) => {
                let why = format!("WADO-RS retrieve failed: {err}");
                return self.report(FileResult::failed(&path, None, 0, &why));
            }
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let body = response.text().await.unwrap_or_default();
            let mut result =
                FileResult::failed(&path, None, 0, &format!("HTTP {status}: {}", body.trim()));
            result.http_status = Some(status);
            return self.report(result.uids(None, Some(uid.to_string())));
        }
        let boundary = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(multipart_boundary);
        let Some(boundary) = boundary else {
            let why = "the WADO-RS answer is not multipart/related";
            return self.report(FileResult::failed(&path, None, 0, why));
        };
        let limits = multer::SizeLimit::new().per_field(self.limits.max_bytes);
        let mut multipart = multer::Multipart::with_constraints(
            response.bytes_stream(),
            boundary,
            multer::Constraints::new().size_limit(limits),
        );
        let mut n = 0;
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(err) => {
                    let why = format!("the retrieve broke off after {n} instances: {err}");
                    return self.report(FileResult::failed(&path, None, 0, &why));
                }
            };
            n += 1;
            let member = format!("instance {n}");
            match self.collect(field).await {
                Ok(received) => self.part(&path, member, received).await,
                Err(why) => {
                    let why = format!("the retrieve broke off: {why}");
                    self.report(FileResult::failed(&path, Some(&member), 0, &why));
                    return;
                }
            }
        }
    }

    async fn collect(&self, mut field: multer::Field<'static>) -> Result<Received, String> {
        let mut spool = PartSpool::new(&self.limits.staging, self.limits.spool_bytes, 0);
        while let Some(chunk) = field.chunk().await.map_err(|err| err.to_string())? {
            spool.push(&chunk).await.map_err(|err| err.to_string())?;
        }
        spool.finish().await.map_err(|err| err.to_string())
    }

    async fn part(&mut self, path: &Path, member: String, received: Received) {
        let head = match &received {
            Received::Memory(bytes) => bytes.slice(..bytes.len().min(sniff::HEAD)).to_vec(),
            Received::Staged(staged) => {
                let mut head = Vec::new();
                let read = tokio::fs::File::open(staged.path())
                    .await
                    .map(|file| file.take(sniff::HEAD as u64));
                match read {
                    Ok(mut file) => {
                        let _ = file.read_to_end(&mut head).await;
                    }
                    Err(_) => head.clear(),
                }
                head
            }
        };
        let size = received.len();
        match sniff::classify(&head) {
            kind @ (Kind::Part10 | Kind::RawDataSet) => {
                let content = match received {
                    Received::Memory(bytes) => Content::Memory(bytes),
                    Received::Staged(staged) => Content::Staged(staged),
                };
                self.push(Candidate {
                    path: path.to_path_buf(),
                    member: Some(member),
                    kind,
                    content,
                })
                .await;
            }
            Kind::NotDicom(why) => {
                self.report(FileResult::not_dicom(path, Some(&member), size, why));
            }
            Kind::Zip | Kind::Dicomdir => {
                let why = "not an instance (a zip file or DICOMDIR in a WADO-RS answer)";
                self.report(FileResult::not_dicom(path, Some(&member), size, why));
            }
        }
    }

    async fn push(&mut self, candidate: Candidate) {
        let size = candidate.size();
        let full = self.batch.len() >= self.limits.batch_files
            || self.batch_bytes + size > self.limits.batch_bytes;
        if full && !self.batch.is_empty() {
            self.flush().await;
        }
        self.progress.add_total(1);
        self.batch.push(candidate);
        self.batch_bytes += size;
    }

    async fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if self.batches.send(batch).await.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn report(&self, result: FileResult) {
        self.progress.add_total(1);
        let _ = self.results.send(result);
    }
}

/// The boundary of a `multipart/...` Content-Type (quoted or not).
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_of_multipart_related() {
        let ct = "multipart/related; type=\"application/dicom\"; boundary=abc-1";
        assert_eq!(multipart_boundary(ct).as_deref(), Some("abc-1"));
        let ct = "Multipart/Related; boundary=\"q r\"; type=application/dicom";
        assert_eq!(multipart_boundary(ct).as_deref(), Some("q r"));
        assert_eq!(multipart_boundary("application/dicom; boundary=x"), None);
        assert_eq!(multipart_boundary("multipart/related"), None);
    }
}
