//! The few FHIR REST interactions the push needs (conditional update, create, delete and a
//! search), with failures sorted into "try again later" and "refused for good".

use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use super::FhirAuth;
use crate::fhir::push::PushError;

const FHIR_JSON: &str = "application/fhir+json";

pub struct FhirClient {
    http: reqwest::Client,
    base: String,
    auth: Option<FhirAuth>,
}

/// `name=value` with the value percent-encoded (FHIR token values carry `|` and `:`).
pub fn query(name: &str, value: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    format!("{name}={encoded}")
}

impl FhirClient {
    pub fn new(base: &str, auth: Option<FhirAuth>) -> Result<Self, PushError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| PushError::Rejected {
                status: 0,
                reason: format!("cannot build an HTTP client: {err}"),
            })?;
        Ok(FhirClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .header(reqwest::header::ACCEPT, FHIR_JSON)
            .header("Prefer", "return=representation");
        match &self.auth {
            Some(FhirAuth::Bearer(token)) => builder.bearer_auth(token),
            Some(FhirAuth::Basic { username, password }) => {
                builder.basic_auth(username, Some(password))
            }
            None => builder,
        }
    }

    /// `PUT [base]/{kind}?{search}`: update the one resource the search finds, or create it.
    /// Returns the server's id of the resource.
    pub async fn conditional_update(
        &self,
        kind: &str,
        search: &str,
        body: &Value,
    ) -> Result<String, PushError> {
        let request = self
            .request(reqwest::Method::PUT, &format!("{kind}?{search}"))
            .header(reqwest::header::CONTENT_TYPE, FHIR_JSON)
            .body(body.to_string());
        let (headers, answer) = send(request, &format!("update {kind}")).await?;
        resource_id(&headers, &answer, kind)
    }

    /// `POST [base]/{kind}` with `If-None-Exist: {search}`: create unless one exists.
    /// Returns the server's id of the (new or existing) resource.
    pub async fn conditional_create(
        &self,
        kind: &str,
        search: &str,
        body: &Value,
    ) -> Result<String, PushError> {
        let request = self
            .request(reqwest::Method::POST, kind)
            .header(reqwest::header::CONTENT_TYPE, FHIR_JSON)
            .header("If-None-Exist", search)
            .body(body.to_string());
        let (headers, answer) = send(request, &format!("create {kind}")).await?;
        resource_id(&headers, &answer, kind)
    }

    /// `DELETE [base]/{kind}?{search}`; deleting nothing is not an error.
    pub async fn conditional_delete(&self, kind: &str, search: &str) -> Result<(), PushError> {
        let request = self.request(reqwest::Method::DELETE, &format!("{kind}?{search}"));
        match send(request, &format!("delete {kind}")).await {
            Ok(_) | Err(PushError::Rejected { status: 404, .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// `GET [base]/{kind}?{search}`: the ids of the resources found.
    pub async fn search_ids(&self, kind: &str, search: &str) -> Result<Vec<String>, PushError> {
        let request = self.request(reqwest::Method::GET, &format!("{kind}?{search}"));
        let (_, bundle) = send(request, &format!("search {kind}")).await?;
        Ok(bundle["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Send a request; sort what went wrong.
async fn send(request: RequestBuilder, what: &str) -> Result<(HeaderMap, Value), PushError> {
    let response = request.send().await.map_err(|err| PushError::Retry {
        reason: format!("{what}: {}", describe(&err)),
        after: None,
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(|err| PushError::Retry {
        reason: format!("{what}: reading the answer: {}", describe(&err)),
        after: None,
    })?;
    if status.is_success() {
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        return Ok((headers, body));
    }
    let reason = format!("{what}: HTTP {status}: {}", outcome_text(&text));
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        let after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(PushError::Retry { reason, after });
    }
    Err(PushError::Rejected {
        status: status.as_u16(),
        reason,
    })
}

/// An error with its causes (reqwest's Display hides "connection refused").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The diagnostics of an OperationOutcome, or the start of whatever came back.
fn outcome_text(text: &str) -> String {
    if let Ok(outcome) = serde_json::from_str::<Value>(text) {
        if let Some(issues) = outcome["issue"].as_array() {
            let parts: Vec<String> = issues
                .iter()
                .filter_map(|i| i["diagnostics"].as_str().map(str::to_string))
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
    }
    text.chars().take(300).collect()
}

/// The id of the resource a create or update answered: from its body, else from Location
/// (`[base]/{kind}/{id}/_history/{version}`).
fn resource_id(headers: &HeaderMap, body: &Value, kind: &str) -> Result<String, PushError> {
    if let Some(id) = body["id"].as_str() {
        return Ok(id.to_string());
    }
    let location = headers
        .get(LOCATION)
        .or_else(|| headers.get("Content-Location"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut parts = location.split('/');
    while let Some(part) = parts.next() {
        if part == kind {
            if let Some(id) = parts.next().filter(|id| !id.is_empty()) {
                return Ok(id.to_string());
            }
        }
    }
    Err(PushError::Rejected {
        status: 0,
        reason: format!("the FHIR server answered without the {kind}'s id"),
    })
}
