//! HTTP: routers and thin handlers. Handlers parse and negotiate; services decide.

pub mod accept;
pub mod access;
mod body_timeout;
mod bulkdata;
mod changefeed;
pub mod compression;
mod deid_jobs;
mod delete;
pub mod error;
mod fhir;
mod fhir_error;
mod first_byte;
mod frames;
pub mod guard;
mod health;
mod home;
mod idle;
mod jobs;
pub mod listener;
pub mod media;
mod metered_body;
mod metrics;
pub mod multipart_out;
pub mod partitions;
pub mod path;
mod qido;
mod query_limit;
pub mod range;
mod related;
mod rendered;
pub mod routes;
pub mod server;
mod shed;
mod stow;
pub mod stow_body;
mod stow_response;
pub mod tls;
mod viewer;
mod wado;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::Router;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::audit::writer::AuditTrail;
use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::delete::DeleteService;
use crate::feed::FeedService;
use crate::fhir::FhirService;
use crate::frames::FrameService;
use crate::index::Index;
use crate::ingest::IngestService;
use crate::metrics::Metrics;
use crate::retrieve::RetrieveService;
use crate::search::service::SearchService;
use crate::storage::BlobStore;
use crate::viewer::sign_in::SignIn;
use crate::viewer::Viewer;

/// What every handler can reach: shared, so that handing it to a handler (axum clones the
/// state for every extractor of every request) is one reference count, not a copy of its
/// strings and lists.
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

impl AppState {
    pub fn new(services: AppServices) -> Self {
        AppState(Arc::new(services))
    }

    /// This state with the archive's partitions (the whole application's router).
    pub fn with_partitions(&self, partitions: Arc<dyn partitions::Partitions>) -> Self {
        let mut services = (*self.0).clone();
        services.partitions = Some(partitions);
        AppState::new(services)
    }
}

/// The services and settings behind [`AppState`].
#[derive(Clone)]
pub struct AppServices {
    pub ingest: Arc<IngestService>,
    pub search: Arc<SearchService>,
    pub retrieve: Arc<RetrieveService>,
    pub index: Arc<dyn Index>,
    pub store: BlobStore,
    pub base_url: Option<String>,
    pub max_request_bytes: u64,
    /// Most parts in one STOW request.
    pub max_parts_per_request: usize,
    pub frames: Arc<FrameService>,
    pub metrics: Arc<Metrics>,
    pub delete: Arc<DeleteService>,
    pub feed: Arc<FeedService>,
    pub fhir: Arc<FhirService>,
    /// The OHIF viewer served at /viewer, when configured.
    pub viewer: Option<Arc<Viewer>>,
    /// Origins allowed by CORS; `["*"]`: any.
    pub cors_allowed_origins: Vec<String>,
    /// How the viewer and the built-in page sign in, when authentication is on and a public
    /// client is configured.
    pub sign_in: Option<SignIn>,
    /// Who callers are.
    pub auth: Arc<Authenticator>,
    /// Where audit records go.
    pub trail: Arc<AuditTrail>,
    /// The trail, for reading (`/fhir/AuditEvent`).
    pub audit_log: Arc<dyn AuditLog>,
    /// This archive's name in audit records.
    pub audit_source_id: String,
    /// `/metrics` without authentication.
    pub metrics_open: bool,
    /// Requests worked on at once before more are shed (503).
    pub max_concurrent_requests: usize,
    /// De-identification projects and partitions (`POST /jobs/deidentify`).
    pub deidentify: crate::ops::deidentify::DeidentifyContext,
    /// The partition these services are of; `None`: the default partition.
    pub partition: Option<crate::partition::PartitionName>,
    /// The archive's partitions, in the state of the whole application's router (`None` in
    /// a partition's own).
    pub partitions: Option<Arc<dyn partitions::Partitions>>,
    /// A STOW-RS request to a partition no one created creates it.
    pub partition_auto_create: bool,
}

impl AppServices {
    /// Where this server is reachable, for RetrieveURLs: the configured base URL, else the
    /// request's Host.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.base_url {
            return base.clone();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    /// The DICOMweb root of these services' partition, for RetrieveURLs and BulkDataURIs:
    /// `{base}/dicom-web`, or `{base}/dicom-web/partitions/{name}`.
    pub fn dicomweb_root(&self, headers: &HeaderMap) -> String {
        let base = self.base_url(headers);
        match &self.partition {
            Some(name) => format!("{base}/dicom-web/partitions/{name}"),
            None => format!("{base}/dicom-web"),
        }
    }
}

/// The whole application router, built from the route table ([`routes`]): each route
/// behind its access check and audit record ([`guard`]).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    // `/dicom-web/partitions/default/...`: the plain routes' partition by its name.
    let default = Arc::new(partitions::Partition::new(
        crate::partition::PartitionName::default_partition(),
        state.clone(),
    ));
    for route in routes::routes() {
        let guard = guard::Guard {
            state: state.clone(),
            access: route.info.access,
            audited: route.info.audited,
            scope: route.info.scope,
            default: Arc::clone(&default),
        };
        let handler = route
            .handler
            .route_layer(axum::middleware::from_fn_with_state(guard, guard::guard));
        router = router.route(&route.info.path, handler);
    }
    let cors = cors_layer(&state.cors_allowed_origins);
    let shedder = shed::Shedder::new(state.max_concurrent_requests, state.metrics.clone());
    router
        .layer(axum::middleware::from_fn_with_state(shedder, shed::shed))
        .layer(compression::layer())
        // Outside compression: the bytes counted out are those sent.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count,
        ))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A partition's own router: its DICOMweb routes over its services (see [`partitions`]).
pub(crate) fn partition_router(state: AppState) -> Router {
    routes::partition_router(state)
}

/// CORS: any origin by default (DICOMweb is read by viewers served from elsewhere), else
/// only the configured ones. Any method; the request headers a preflight asks for are
/// mirrored rather than answered with `*`, because browsers never let `*` cover
/// `Authorization` (viewers behind OIDC send it). Response headers readable, preflights
/// cached an hour.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok()))
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(Any)
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(Any)
        .max_age(std::time::Duration::from_secs(3600))
}
