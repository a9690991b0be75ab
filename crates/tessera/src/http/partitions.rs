//! Partitions over HTTP: `GET /dicom-web/partitions` (the partitions the caller may use),
//! `POST /dicom-web/partitions` `{"name": ...}` (an admin creates one: 201, 409 when it
//! exists, 400 for a bad name), and every DICOMweb route under
//! `/dicom-web/partitions/{partition}`: the twin route's guard checks the caller, the
//! partition's name, whether the caller may use it, and opens it ([`resolve`]); [`forward`]
//! then hands the request, its path without the partition, to the partition's own router.
//!
//! A partition is the same archive code over its own index and blob prefix, so its handlers
//! are the plain ones: nothing below this file knows which partition it serves.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::access::Scope;
use super::error::ApiError;
use super::listener::ClientAddr;
use super::AppState;
use crate::auth::{AuthError, Principal};
use crate::partition::{PartitionError, PartitionInfo, PartitionName};
use crate::time::rfc3339_millis;

/// The partitions of the archive, as the HTTP layer needs them (built above this layer, in
/// `crate::partitions`, from the same function that builds the default's services).
#[async_trait]
pub trait Partitions: Send + Sync + 'static {
    /// Every partition but the default, by name.
    async fn list(&self) -> Result<Vec<PartitionInfo>, PartitionError>;
    /// Create one (its index and blob prefix first, then its registry row); `Ok(false)`
    /// when it exists already.
    async fn create(&self, name: &PartitionName) -> Result<bool, PartitionError>;
    /// A partition's services, opened on first use on this node and kept; `None` when no
    /// partition has that name.
    async fn open(&self, name: &PartitionName) -> Result<Option<Arc<Partition>>, PartitionError>;
}

/// One partition, open: its services and the router of its DICOMweb routes over them.
pub struct Partition {
    pub name: PartitionName,
    pub state: AppState,
    router: Router,
}

impl Partition {
    pub fn new(name: PartitionName, state: AppState) -> Partition {
        let router = super::partition_router(state.clone());
        Partition {
            name,
            state,
            router,
        }
    }
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Partition({})", self.name)
    }
}

/// Whether `principal` may call a route of this scope (`named`: the partition the path
/// names, for [`Scope::Named`]).
pub(super) fn check_access(
    principal: &Principal,
    scope: Scope,
    named: Option<&PartitionName>,
) -> Result<(), AuthError> {
    let access = &principal.partitions;
    let refuse = |name: &PartitionName| AuthError::OutsidePartitions {
        partition: name.to_string(),
        allowed: access.describe(),
    };
    match scope {
        Scope::Unscoped => Ok(()),
        Scope::Archive if access.is_limited() => Err(AuthError::ArchiveWide {
            allowed: access.describe(),
        }),
        Scope::Archive => Ok(()),
        Scope::Default => {
            let default = PartitionName::default_partition();
            if access.allows(&default) {
                Ok(())
            } else {
                Err(refuse(&default))
            }
        }
        Scope::Named => match named {
            Some(name) if access.allows(name) => Ok(()),
            Some(name) => Err(refuse(name)),
            None => Ok(()),
        },
    }
}

/// The partition a request names, open, or the answer to send instead: 404 for a partition
/// no one created (created here instead for a STOW when `--partition-auto-create` is on),
/// 503 when its stores cannot be reached. `default` is the plain routes' partition.
pub(super) async fn resolve(
    state: &AppState,
    default: &Arc<Partition>,
    name: &PartitionName,
    storing: bool,
) -> Result<Arc<Partition>, ApiError> {
    if name.is_default() {
        return Ok(Arc::clone(default));
    }
    let partitions = state.partitions.as_ref().ok_or_else(|| {
        ApiError::NotFound(PartitionError::NotFound(name.to_string()).to_string())
    })?;
    if let Some(partition) = partitions.open(name).await? {
        return Ok(partition);
    }
    if storing && state.partition_auto_create {
        if partitions.create(name).await? {
            tracing::info!(partition = %name, "partition created by its first STOW");
        }
        if let Some(partition) = partitions.open(name).await? {
            return Ok(partition);
        }
    }
    Err(PartitionError::NotFound(name.to_string()).into())
}

/// A partition twin's handler: the request, its path without `/partitions/{name}`, to the
/// partition's router. The guard put the open partition in the request's extensions.
pub(super) async fn forward(request: Request) -> Response {
    let Some(partition) = request.extensions().get::<Arc<Partition>>().cloned() else {
        return ApiError::Internal("a partition route without its partition".into())
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let Some(uri) = inner_uri(&parts.uri) else {
        return ApiError::NotFound(format!("{} names no resource", parts.uri.path()))
            .into_response();
    };
    // A fresh request: the outer router's path parameters and matched path must not reach
    // the inner one; what the handlers use of the extensions is carried over.
    let mut inner = Request::builder()
        .method(parts.method)
        .uri(uri)
        .version(parts.version)
        .body(body)
        .unwrap_or_default();
    *inner.headers_mut() = parts.headers;
    if let Some(principal) = parts.extensions.get::<Principal>() {
        inner.extensions_mut().insert(principal.clone());
    }
    if let Some(address) = parts.extensions.get::<ConnectInfo<ClientAddr>>() {
        inner.extensions_mut().insert(*address);
    }
    match partition.router.clone().oneshot(inner).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `/dicom-web/partitions/{name}/rest?query` as `/dicom-web/rest?query`.
fn inner_uri(outer: &Uri) -> Option<Uri> {
    let path = outer.path();
    let after = path.strip_prefix("/dicom-web/partitions/")?;
    let rest = &after[after.find('/')?..];
    let target = match outer.query() {
        Some(query) => format!("/dicom-web{rest}?{query}"),
        None => format!("/dicom-web{rest}"),
    };
    target.parse().ok()
}

fn describe(info: &PartitionInfo, root: &str) -> Value {
    let created = (info.created_at > 0).then(|| rfc3339_millis(info.created_at));
    json!({
        "name": info.name.as_str(),
        "created": created,
        "url": format!("{root}/partitions/{}", info.name),
    })
}

/// `GET /dicom-web/partitions`: the default partition and every created one that the caller
/// may use, by name.
pub async fn list(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let mut all = vec![PartitionInfo {
        name: PartitionName::default_partition(),
        created_at: 0,
    }];
    if let Some(partitions) = &state.partitions {
        all.extend(partitions.list().await?);
    }
    let access = principal
        .map(|Extension(p)| p.partitions)
        .unwrap_or_default();
    let root = state.dicomweb_root(&headers);
    let shown: Vec<Value> = all
        .iter()
        .filter(|info| access.allows(&info.name))
        .map(|info| describe(info, &root))
        .collect();
    Ok(Json(Value::Array(shown)).into_response())
}

/// `POST /dicom-web/partitions` with `{"name": "..."}`: 201 with the partition, 409 when it
/// exists (`default` always does), 400 for a name no partition can have.
pub async fn create(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not JSON: {err}")))?;
    let raw = request
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::BadRequest("the body needs a \"name\" (a string)".into()))?;
    let name = PartitionName::parse(raw)?;
    let partitions = state
        .partitions
        .as_ref()
        .ok_or_else(|| ApiError::Internal("partitions are not served here".into()))?;
    if name.is_default() || !partitions.create(&name).await? {
        return Err(ApiError::Conflict(format!(
            "partition {name:?} exists already"
        )));
    }
    tracing::info!(partition = %name, "partition created");
    let info = partitions
        .list()
        .await?
        .into_iter()
        .find(|info| info.name == name)
        .unwrap_or(PartitionInfo {
            name: name.clone(),
            created_at: 0,
        });
    let root = state.dicomweb_root(&headers);
    let location = format!("/dicom-web/partitions/{name}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(describe(&info, &root)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_leaves_the_path() {
        let uri: Uri = "/dicom-web/partitions/a-1/studies/1.2/series?limit=3&x=%2F"
            .parse()
            .unwrap();
        assert_eq!(
            inner_uri(&uri).unwrap().to_string(),
            "/dicom-web/studies/1.2/series?limit=3&x=%2F"
        );
        let uri: Uri = "/dicom-web/partitions/a/changefeed".parse().unwrap();
        assert_eq!(inner_uri(&uri).unwrap().path(), "/dicom-web/changefeed");
        assert!(inner_uri(&"/dicom-web/partitions/a".parse().unwrap()).is_none());
        assert!(inner_uri(&"/dicom-web/studies".parse().unwrap()).is_none());
    }
}
