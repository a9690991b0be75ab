//! The access check and audit record around every route: authenticate the caller, check the
//! route's role, run the handler, record what happened. Writes (STOW, deletes) are recorded
//! in the trail before their answer leaves; reads and refusals are queued for the trail.

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use std::sync::Arc;

use super::access::{Access, Audited, Scope, TouchedStudies};
use super::error::ApiError;
use super::listener::ClientAddr;
use super::partitions::{self, Partition};
use super::AppState;
use crate::audit::{Action, Agent, AuditRecord, EventType, Interaction, Outcome};
use crate::auth::{AuthError, Principal, Role};
use crate::index::Index;
use crate::partition::PartitionName;
use crate::time::now_micros;

/// What the guard of one route knows.
#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    pub access: Access,
    pub audited: Audited,
    /// Whose data the route touches (for callers limited to partitions).
    pub scope: Scope,
    /// The default partition by its name (`/dicom-web/partitions/default/...`).
    pub default: Arc<Partition>,
}

/// Where in the request the audit record's entities are.
#[derive(Debug, Default)]
struct Target {
    method: String,
    path: String,
    query: Option<String>,
    address: Option<String>,
    /// The partition the path names, as sent (`{partition}`).
    partition: Option<String>,
    study: Option<String>,
    series: Option<String>,
    sop: Option<String>,
    patient: Option<String>,
}

pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let needed = match guard.access {
        Access::Open => None,
        Access::Needs(role) => Some(role),
        Access::Metrics if guard.state.metrics_open => None,
        Access::Metrics => Some(Role::Admin),
    };
    let Some(needed) = needed else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let target = target(&mut parts).await;
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let auth = &guard.state.auth;
    let principal = match auth.authenticate(authorization).await {
        Ok(principal) => principal,
        Err(err) => {
            if !matches!(err, AuthError::Unavailable(_)) {
                let record = refusal(&guard, &target, &err, None);
                guard.state.trail.record_later(record).await;
            }
            return refused(&err, is_fhir(&target.path));
        }
    };
    if !principal.roles.has(needed) {
        let err = AuthError::MissingRole(needed);
        let record = refusal(&guard, &target, &err, Some(&principal));
        guard.state.trail.record_later(record).await;
        return refused(&err, is_fhir(&target.path));
    }
    let mut target = target;
    // The partition the path names: checked, allowed to this caller, opened.
    let named = match (guard.scope, target.partition.as_deref()) {
        (Scope::Named, Some(raw)) => match PartitionName::parse(raw) {
            Ok(name) => Some(name),
            Err(err) => return answered(&guard, &target, &principal, err.into()).await,
        },
        (Scope::Named, None) => {
            // A name that is not even UTF-8 once percent-decoded.
            let err = ApiError::BadRequest("the partition name in the path is not valid".into());
            return answered(&guard, &target, &principal, err).await;
        }
        _ => None,
    };
    if let Err(err) = partitions::check_access(&principal, guard.scope, named.as_ref()) {
        let record = refusal(&guard, &target, &err, Some(&principal));
        guard.state.trail.record_later(record).await;
        return refused(&err, is_fhir(&target.path));
    }
    let partition = match &named {
        Some(name) => {
            let storing = guard.audited == Audited::Store;
            match partitions::resolve(&guard.state, &guard.default, name, storing).await {
                Ok(partition) => Some(partition),
                Err(err) => return answered(&guard, &target, &principal, err).await,
            }
        }
        None => None,
    };
    // A partition's studies are in its own index, and its records say which partition.
    let own = partition.as_ref().filter(|p| !p.name.is_default()).cloned();
    target.partition = own.as_ref().map(|p| p.name.to_string());
    let index = own.as_ref().map_or(Arc::clone(&guard.state.index), |p| {
        Arc::clone(&p.state.index)
    });
    if guard.audited == Audited::Delete {
        // The study row may be gone after the delete: its patient is read first, and the
        // queued reads (stored with their study's patient) are written before it goes.
        target.patient = patient_of(&index, target.study.as_deref()).await;
        guard.state.trail.flush().await;
    }
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(principal.clone());
    if let Some(partition) = partition {
        request.extensions_mut().insert(partition);
    }
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let base = record(&guard, &target, &principal, status);
    if guard.audited == Audited::No {
        return response;
    }
    let studies = response
        .extensions()
        .get::<TouchedStudies>()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    let mut records: Vec<AuditRecord> = if studies.is_empty() {
        vec![base]
    } else {
        studies
            .into_iter()
            .map(|study| AuditRecord {
                study_uid: Some(study),
                ..base.clone()
            })
            .collect()
    };
    if own.is_some() {
        // The trail looks a default-partition study's patient up itself; a partition's is
        // looked up here, in the partition's index.
        for record in records.iter_mut().filter(|r| r.patient_id.is_none()) {
            record.patient_id = patient_of(&index, record.study_uid.as_deref()).await;
        }
    }
    match guard.audited {
        Audited::Store | Audited::Delete if status < 500 => {
            // The change is done (or refused) by now: its true answer goes out, and its
            // record is written now or queued until the trail takes it.
            guard.state.trail.record_now_or_queue(records).await;
        }
        // Reads; and writes not acknowledged (the store or the index failed), queued like a
        // refusal, so that the 503 does not wait for an index that is away a second time.
        _ => {
            for record in records {
                guard.state.trail.record_later(record).await;
            }
        }
    }
    response
}

/// Answer `err` instead of running the handler (a bad partition name, a partition that does
/// not exist or cannot be opened), recorded like an answer of the route.
async fn answered(
    guard: &Guard,
    target: &Target,
    principal: &Principal,
    err: ApiError,
) -> Response {
    let response = err.into_response();
    if guard.audited != Audited::No {
        let record = record(guard, target, principal, response.status().as_u16());
        guard.state.trail.record_later(record).await;
    }
    response
}

/// The request's method, path, query, client address and the UIDs its path names.
async fn target(parts: &mut axum::http::request::Parts) -> Target {
    let address = parts
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.ip().to_string());
    let mut target = Target {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(String::from),
        address,
        ..Target::default()
    };
    if let Ok(params) = RawPathParams::from_request_parts(parts, &()).await {
        for (name, value) in params.iter() {
            match name {
                "study" => target.study = Some(value.to_string()),
                "series" => target.series = Some(value.to_string()),
                "instance" => target.sop = Some(value.to_string()),
                "partition" => target.partition = Some(value.to_string()),
                _ => {}
            }
        }
    }
    // A search naming a study or a patient names its entities too.
    if let Some(query) = &target.query {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "StudyInstanceUID" | "0020000D" if target.study.is_none() => {
                    target.study = Some(value.into_owned())
                }
                "PatientID" | "00100020" if target.patient.is_none() => {
                    target.patient = Some(value.into_owned())
                }
                _ => {}
            }
        }
    }
    target
}

async fn patient_of(index: &Arc<dyn Index>, study: Option<&str>) -> Option<String> {
    let uid = tessera_dicom::uid::StudyUid::parse(study?).ok()?;
    index.study(&uid).await.ok().flatten()?.patient_id
}

fn agent(principal: Option<&Principal>, target: &Target) -> Agent {
    Agent {
        subject: principal.and_then(|p| p.subject.clone()),
        client_id: principal.and_then(|p| p.client_id.clone()),
        api_key: principal.and_then(|p| p.api_key.clone()),
        issuer: principal.and_then(|p| p.issuer.clone()),
        address: target.address.clone(),
    }
}

fn event_of(audited: Audited) -> (EventType, Action, Interaction) {
    match audited {
        Audited::Query | Audited::No => {
            (EventType::Query, Action::Execute, Interaction::SearchType)
        }
        Audited::AuditRead => (EventType::Query, Action::Read, Interaction::SearchType),
        Audited::MappingRead => (EventType::Query, Action::Read, Interaction::Read),
        Audited::Read => (
            EventType::InstancesAccessed,
            Action::Read,
            Interaction::Read,
        ),
        Audited::Store => (
            EventType::InstancesTransferred,
            Action::Create,
            Interaction::Create,
        ),
        Audited::Delete => (EventType::StudyDeleted, Action::Delete, Interaction::Delete),
        Audited::Export => (EventType::Export, Action::Read, Interaction::Create),
        Audited::JobChange => (EventType::Export, Action::Update, Interaction::Update),
        Audited::PartitionChange => (
            EventType::SecurityAlert,
            Action::Create,
            Interaction::Create,
        ),
    }
}

/// A record of this request: by `principal` (`None`: not authenticated), answered `status`.
fn base_record(
    guard: &Guard,
    target: &Target,
    principal: Option<&Principal>,
    status: u16,
) -> AuditRecord {
    let (event, action, interaction) = event_of(guard.audited);
    AuditRecord {
        id: 0,
        recorded_micros: now_micros(),
        event,
        interaction: Some(interaction),
        action,
        outcome: Outcome::of_status(status),
        status,
        agent: agent(principal, target),
        method: target.method.clone(),
        path: target.path.clone(),
        query: target.query.clone(),
        patient_id: target.patient.clone(),
        study_uid: target.study.clone(),
        series_uid: target.series.clone(),
        sop_uid: target.sop.clone(),
        detail: (status >= 400).then(|| format!("answered {status}")),
        // `partitions/default/...` is the default partition: no partition in the record.
        partition: target
            .partition
            .clone()
            .filter(|name| name != crate::partition::DEFAULT_PARTITION),
    }
}

/// The record of an answered request; the query string only for searches.
fn record(guard: &Guard, target: &Target, principal: &Principal, status: u16) -> AuditRecord {
    let mut record = base_record(guard, target, Some(principal), status);
    if !matches!(guard.audited, Audited::Query | Audited::AuditRead) {
        record.query = None;
    }
    record
}

/// The record of a refused request: a failed authentication (110114), or a missing role or
/// a partition the caller may not use (110113 Security Alert).
fn refusal(
    guard: &Guard,
    target: &Target,
    err: &AuthError,
    principal: Option<&Principal>,
) -> AuditRecord {
    let (event, status) = match err {
        AuthError::MissingRole(_)
        | AuthError::OutsidePartitions { .. }
        | AuthError::ArchiveWide { .. } => (EventType::SecurityAlert, 403),
        _ => (EventType::UserAuthentication, 401),
    };
    AuditRecord {
        event,
        detail: Some(err.to_string()),
        ..base_record(guard, target, principal, status)
    }
}

fn is_fhir(path: &str) -> bool {
    path.starts_with("/fhir/")
}

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750), 403 naming the role or the partition, 503 when the
/// credentials could not be checked. FHIR routes answer with an OperationOutcome.
fn refused(err: &AuthError, fhir: bool) -> Response {
    let (status, code, challenge) = match err {
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            Some(r#"Bearer realm="tessera""#.to_string()),
        ),
        AuthError::InvalidToken(description) => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some(format!(
                r#"Bearer realm="tessera", error="invalid_token", error_description="{}""#,
                description.replace(['"', '\\'], "'")
            )),
        ),
        AuthError::MissingRole(role) => (
            StatusCode::FORBIDDEN,
            "forbidden",
            Some(format!(
                r#"Bearer realm="tessera", error="insufficient_scope", scope="{role}""#
            )),
        ),
        AuthError::OutsidePartitions { .. } | AuthError::ArchiveWide { .. } => (
            StatusCode::FORBIDDEN,
            "forbidden",
            Some(r#"Bearer realm="tessera", error="insufficient_scope""#.to_string()),
        ),
        AuthError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
    };
    let message = err.to_string();
    let body = if fhir {
        let issue_code = match status {
            StatusCode::UNAUTHORIZED => "login",
            StatusCode::FORBIDDEN => "forbidden",
            _ => "transient",
        };
        serde_json::json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": issue_code, "diagnostics": message}],
        })
    } else {
        serde_json::json!({ "error": code, "message": message })
    };
    let content_type = if fhir {
        "application/fhir+json"
    } else {
        "application/json"
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response();
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}
