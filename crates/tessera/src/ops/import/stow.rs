//! `--to`: a batch of files sent as one STOW-RS request (`multipart/related;
//! type="application/dicom"`) to a running Tessera or any STOW-RS endpoint, and its answer
//! (PS3.18 10.5.3: FailedSOPSequence with FailureReason, ReferencedSOPSequence with
//! WarningReason) taken apart into one result per file. Files above the spool size are
//! streamed from disk, never held whole. A busy server (429, 502, 503, 504) is asked again
//! after its Retry-After; a request the server finds too large (413) is split into one
//! request per file; refused credentials (401, 403) stop the sending: every later file is
//! reported with the same refusal, since no retry would succeed.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::load::{Data, Item};
use super::report::{reason_words, FileResult, Status};
use super::OpsError;

/// Tries of one request while the server is busy or cannot be reached.
const TRIES: u32 = 5;
/// The longest wait between two tries, whatever Retry-After says.
const LONGEST_WAIT: Duration = Duration::from_secs(30);
/// Bytes read from a file per chunk of a streamed part.
const CHUNK: usize = 1 << 20;
/// Characters of an error answer's body kept in the report.
const BODY_KEPT: usize = 300;

pub struct StowClient {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    /// The status and body of the first refusal of the credentials (401, 403).
    refused: Mutex<Option<(u16, String)>>,
}

/// What the server answered to one request.
enum Answer {
    /// A STOW-RS response body (whatever the status: 200, 202, 409...).
    Stow(Outcomes),
    /// A success status without a STOW-RS body.
    BareSuccess(u16),
    TooLarge(String),
    /// An error status without a STOW-RS body.
    Http(u16, String),
    /// No answer at all.
    Unreachable(String),
}

impl StowClient {
    /// A client of the DICOMweb service at `to` (`/studies` is added unless it ends so).
    pub fn new(to: &str, token: Option<String>) -> Result<StowClient, OpsError> {
        let parsed = url::Url::parse(to)
            .map_err(|err| OpsError::Invalid(format!("--to {to}: not a URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OpsError::Invalid(format!(
                "--to {to}: an http:// or https:// URL is needed"
            )));
        }
        let root = to.trim_end_matches('/');
        let url = if root.ends_with("/studies") {
            root.to_string()
        } else {
            format!("{root}/studies")
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| OpsError::Invalid(format!("cannot make an HTTP client: {err}")))?;
        Ok(StowClient {
            client,
            url,
            token: token.filter(|t| !t.is_empty()),
            refused: Mutex::new(None),
        })
    }

    /// Where requests go.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send one batch; one result per item, in order.
    pub async fn send(&self, items: Vec<Item>) -> Vec<FileResult> {
        if let Some((status, body)) = self.refusal() {
            let why =
                format!("not sent: the server refused the credentials (HTTP {status}): {body}");
            return http_failures(&items, status, &why);
        }
        match self.post(&items).await {
            Answer::Stow(mut outcomes) => items.iter().map(|item| outcomes.result(item)).collect(),
            Answer::BareSuccess(status) => items
                .iter()
                .map(|item| {
                    item.result(Status::Stored).message(format!(
                        "the server answered {status} without a STOW-RS response body"
                    ))
                })
                .collect(),
            Answer::TooLarge(body) if items.len() > 1 => {
                tracing::info!(files = items.len(), %body, "request too large; sending its files one by one");
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    results.extend(Box::pin(self.send(vec![item])).await);
                }
                results
            }
            Answer::TooLarge(body) => {
                http_failures(&items, 413, &format!("HTTP 413 Payload Too Large: {body}"))
            }
            Answer::Http(status, body) => {
                if matches!(status, 401 | 403) {
                    if let Ok(mut refused) = self.refused.lock() {
                        refused.get_or_insert((status, body.clone()));
                    }
                }
                let words = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                http_failures(&items, status, &format!("HTTP {status} {words}: {body}"))
            }
            Answer::Unreachable(why) => items
                .iter()
                .map(|item| item.result(Status::Failed).message(why.clone()))
                .collect(),
        }
    }

    fn refusal(&self) -> Option<(u16, String)> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }

    async fn post(&self, items: &[Item]) -> Answer {
        let boundary = format!("tessera-import-{:016x}", rand::random::<u64>());
        let mut tries = 0;
        loop {
            tries += 1;
            let (body, length) = body(items, &boundary);
            let mut request = self
                .client
                .post(&self.url)
                .header(
                    CONTENT_TYPE,
                    format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
                )
                .header(ACCEPT, "application/dicom+json")
                .header(CONTENT_LENGTH, length)
                .body(body);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) if tries < TRIES => {
                    tracing::warn!(%err, url = %self.url, "STOW-RS request failed; trying again");
                    tokio::time::sleep(backoff(tries)).await;
                    continue;
                }
                Err(err) => {
                    return Answer::Unreachable(format!(
                        "not sent: {} cannot be reached: {}",
                        self.url,
                        error_chain(&err)
                    ))
                }
            };
            let status = response.status().as_u16();
            if matches!(status, 429 | 502 | 503 | 504) && tries < TRIES {
                let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(tries));
                tracing::warn!(status, ?wait, "the STOW-RS server is busy; trying again");
                tokio::time::sleep(wait.min(LONGEST_WAIT)).await;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            if status == 413 {
                return Answer::TooLarge(kept(&text));
            }
            if let Some(outcomes) = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|json| Outcomes::parse(&json))
            {
                return Answer::Stow(outcomes);
            }
            if (200..300).contains(&status) {
                return Answer::BareSuccess(status);
            }
            return Answer::Http(status, kept(&text));
        }
    }
}

fn http_failures(items: &[Item], status: u16, why: &str) -> Vec<FileResult> {
    items
        .iter()
        .map(|item| {
            let mut result = item.result(Status::Failed).message(why);
            result.http_status = Some(status);
            result
        })
        .collect()
}

fn kept(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(BODY_KEPT) {
        Some((at, _)) => format!("{}...", &body[..at]),
        None => body.to_string(),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn backoff(tries: u32) -> Duration {
    Duration::from_millis(500 << tries.min(5))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// One piece of a request body.
enum Segment {
    Bytes(Bytes),
    File(PathBuf, u64),
}

/// The multipart body of these items and its length.
fn body(items: &[Item], boundary: &str) -> (reqwest::Body, u64) {
    let mut segments = Vec::with_capacity(items.len() * 3 + 1);
    let part_head = Bytes::from(format!(
        "--{boundary}\r\nContent-Type: application/dicom\r\n\r\n"
    ));
    for item in items {
        segments.push(Segment::Bytes(part_head.clone()));
        segments.push(match &item.data {
            Data::Memory(bytes) => Segment::Bytes(bytes.clone()),
            Data::Staged(staged) => Segment::File(staged.path().to_path_buf(), staged.len()),
            Data::File { len } => Segment::File(item.path.clone(), *len),
        });
        segments.push(Segment::Bytes(Bytes::from_static(b"\r\n")));
    }
    segments.push(Segment::Bytes(Bytes::from(format!("--{boundary}--\r\n"))));
    let length = segments
        .iter()
        .map(|s| match s {
            Segment::Bytes(bytes) => bytes.len() as u64,
            Segment::File(_, len) => *len,
        })
        .sum();
    let stream = stream::iter(segments).flat_map(
        |segment| -> BoxStream<'static, Result<Bytes, std::io::Error>> {
            match segment {
                Segment::Bytes(bytes) => stream::once(async move { Ok(bytes) }).boxed(),
                Segment::File(path, len) => file_stream(path, len),
            }
        },
    );
    (reqwest::Body::wrap_stream(stream), length)
}

/// `len` bytes of the file at `path`, a chunk at a time; an error if it has fewer now.
fn file_stream(path: PathBuf, len: u64) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let state = (path, None::<tokio::fs::File>, len);
    stream::try_unfold(state, |(path, file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let mut file = match file {
            Some(file) => file,
            None => tokio::fs::File::open(&path).await?,
        };
        let mut chunk = vec![0u8; CHUNK.min(left as usize)];
        let read = file.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} became shorter while it was sent", path.display()),
            ));
        }
        chunk.truncate(read);
        Ok(Some((
            Bytes::from(chunk),
            (path, Some(file), left - read as u64),
        )))
    })
    .boxed()
}

/// What a STOW-RS response says of each instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Stored(Option<u16>),
    Failed(u16),
}

/// A STOW-RS response's items, by SOP Instance UID; those without one in order.
#[derive(Debug, Default)]
struct Outcomes {
    named: HashMap<String, VecDeque<Outcome>>,
    unnamed: VecDeque<Outcome>,
}

impl Outcomes {
    /// The items of a DICOM JSON STOW-RS response; `None` when it is not one.
    fn parse(json: &Value) -> Option<Outcomes> {
        let object = json.as_object()?;
        let referenced = object.get("00081199");
        let failed = object.get("00081198");
        if referenced.is_none() && failed.is_none() {
            return None;
        }
        let items = |sequence: Option<&Value>| -> Vec<Value> {
            sequence
                .and_then(|s| s.get("Value"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let first = |item: &Value, tag: &str| item.get(tag)?.get("Value")?.get(0).cloned();
        let mut outcomes = Outcomes::default();
        let mut add = |item: &Value, outcome: Outcome| match first(item, "00081155")
            .and_then(|v| v.as_str().map(str::to_string))
        {
            Some(uid) if !uid.is_empty() => {
                outcomes.named.entry(uid).or_default().push_back(outcome)
            }
            _ => outcomes.unnamed.push_back(outcome),
        };
        for item in items(referenced) {
            let warning = first(&item, "00081196")
                .and_then(|v| v.as_u64())
                .and_then(|v| u16::try_from(v).ok());
            add(&item, Outcome::Stored(warning));
        }
        for item in items(failed) {
            let reason = first(&item, "00081197")
                .and_then(|v| v.as_u64())
                .and_then(|v| u16::try_from(v).ok())
                .unwrap_or(0x0110);
            add(&item, Outcome::Failed(reason));
        }
        Some(outcomes)
    }

    /// The outcome of the instance with this UID, else the next one without a UID. A file
    /// that did not walk (`walked` false: its UID is the meta group's, and the server most
    /// likely could not read it either) takes an unnamed outcome first.
    fn take(&mut self, sop: Option<&str>, walked: bool) -> Option<Outcome> {
        let mut named = || {
            sop.and_then(|uid| self.named.get_mut(uid))
                .and_then(VecDeque::pop_front)
        };
        if walked {
            named().or_else(|| self.unnamed.pop_front())
        } else {
            let unnamed = self.unnamed.pop_front();
            unnamed.or_else(named)
        }
    }

    /// The result of one item sent.
    fn result(&mut self, item: &Item) -> FileResult {
        let coded = |code: u16| {
            let hex = format!("{code:04X}");
            let words = reason_words(&hex);
            if words.is_empty() {
                hex
            } else {
                format!("{hex} ({words})")
            }
        };
        match self.take(item.sop.as_deref(), item.walked) {
            Some(Outcome::Stored(None)) if item.wrapped => item.result(Status::Stored).message(
                "a data set without file meta information: sent with file meta information added",
            ),
            Some(Outcome::Stored(None)) => item.result(Status::Stored),
            Some(Outcome::Stored(Some(warning))) => item
                .result(Status::Stored)
                .reason(warning)
                .message(format!("stored with warning {}", coded(warning))),
            Some(Outcome::Failed(0x0111)) => item
                .result(Status::AlreadyStored)
                .reason(0x0111)
                .message("the server already has this SOP Instance UID"),
            Some(Outcome::Failed(reason)) => item
                .result(Status::Failed)
                .reason(reason)
                .message(format!("refused by the server: {}", coded(reason))),
            None => item
                .result(Status::Failed)
                .message("the server's STOW-RS response does not mention it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_response_is_read_by_uid_and_in_order() {
        let response = json!({
            "00081198": {"vr": "SQ", "Value": [
                {"00081150": {"vr": "UI"}, "00081155": {"vr": "UI"},
                 "00081197": {"vr": "US", "Value": [49152]}},
                {"00081155": {"vr": "UI", "Value": ["1.2.3"]},
                 "00081197": {"vr": "US", "Value": [273]}}
            ]},
            "00081199": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.2.4"]}},
                {"00081155": {"vr": "UI", "Value": ["1.2.5"]},
                 "00081196": {"vr": "US", "Value": [45056]}}
            ]}
        });
        let mut outcomes = Outcomes::parse(&response).unwrap();
        assert_eq!(
            outcomes.take(Some("1.2.4"), true),
            Some(Outcome::Stored(None))
        );
        assert_eq!(
            outcomes.take(Some("1.2.5"), true),
            Some(Outcome::Stored(Some(0xB000)))
        );
        // A file that did not walk takes the unnamed outcome before its UID's.
        assert_eq!(
            outcomes.take(Some("1.2.3"), false),
            Some(Outcome::Failed(0xC000))
        );
        assert_eq!(
            outcomes.take(Some("1.2.3"), false),
            Some(Outcome::Failed(0x0111))
        );
        assert_eq!(outcomes.take(None, true), None);
        assert!(Outcomes::parse(&json!({"error": "x"})).is_none());
    }

    #[test]
    fn the_dicomweb_root_gets_studies() {
        let client = StowClient::new("http://h:1/dicom-web/", None).unwrap();
        assert_eq!(client.url(), "http://h:1/dicom-web/studies");
        let client = StowClient::new("http://h:1/dicom-web/studies", None).unwrap();
        assert_eq!(client.url(), "http://h:1/dicom-web/studies");
        assert!(StowClient::new("ftp://h/x", None).is_err());
        assert!(StowClient::new("not a url", None).is_err());
    }
}
