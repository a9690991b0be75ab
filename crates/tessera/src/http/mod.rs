//! HTTP: routers and thin handlers. Handlers parse and negotiate; services decide.

pub mod accept;
mod bulkdata;
mod changefeed;
pub mod compression;
mod delete;
pub mod error;
mod fhir;
mod fhir_error;
mod frames;
mod health;
mod home;
pub mod listener;
pub mod media;
mod metrics;
pub mod multipart_out;
pub mod path;
mod qido;
pub mod range;
mod related;
mod rendered;
mod stow;
mod stow_response;
mod viewer;
mod wado;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;

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

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub ingest: Arc<IngestService>,
    pub search: Arc<SearchService>,
    pub retrieve: Arc<RetrieveService>,
    pub index: Arc<dyn Index>,
    pub store: BlobStore,
    pub base_url: Option<String>,
    pub max_request_bytes: u64,
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
}

impl AppState {
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
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let dicom_web = Router::new()
        .route("/studies", post(stow::store).get(qido::studies))
        .route(
            "/studies/{study}",
            post(stow::store_in_study)
                .get(wado::retrieve_study)
                .delete(delete::delete_study),
        )
        .route("/series", get(qido::series))
        .route("/instances", get(qido::instances))
        .route("/studies/{study}/series", get(qido::study_series))
        .route("/studies/{study}/instances", get(qido::study_instances))
        .route(
            "/studies/{study}/series/{series}/instances",
            get(qido::series_instances),
        )
        .route("/studies/{study}/metadata", get(wado::study_metadata))
        .route(
            "/studies/{study}/series/{series}",
            get(wado::retrieve_series).delete(delete::delete_series),
        )
        .route(
            "/studies/{study}/series/{series}/metadata",
            get(wado::series_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}",
            get(wado::retrieve_instance).delete(delete::delete_instance),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/metadata",
            get(wado::instance_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{*path}",
            get(bulkdata::bulk_data),
        )
        .route("/changefeed", get(changefeed::changefeed))
        .route("/changefeed/latest", get(changefeed::latest))
        .merge(frames_router());
    let cors = cors_layer(&state.cors_allowed_origins);
    Router::new()
        .route("/", get(home::home))
        .route("/viewer", get(viewer::bare))
        .route("/viewer/", get(viewer::index))
        .route("/viewer/app-config.js", get(viewer::app_config))
        .route("/viewer/{*path}", get(viewer::asset))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .nest("/dicom-web", dicom_web)
        .nest("/fhir", fhir::router())
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count,
        ))
        .layer(compression::layer())
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

/// Frames, rendered images and thumbnails (PS3.18 10.4).
fn frames_router() -> Router<AppState> {
    const INSTANCE: &str = "/studies/{study}/series/{series}/instances/{instance}";
    Router::new()
        .route(
            &format!("{INSTANCE}/frames/{{frames}}"),
            get(frames::frames),
        )
        .route(
            &format!("{INSTANCE}/frames/{{frames}}/rendered"),
            get(rendered::frames_rendered),
        )
        .route(
            &format!("{INSTANCE}/frames/{{frames}}/thumbnail"),
            get(rendered::frames_thumbnail),
        )
        .route(
            &format!("{INSTANCE}/rendered"),
            get(rendered::instance_rendered),
        )
        .route(
            &format!("{INSTANCE}/thumbnail"),
            get(rendered::instance_thumbnail),
        )
        .route(
            "/studies/{study}/series/{series}/rendered",
            get(rendered::series_rendered),
        )
        .route(
            "/studies/{study}/series/{series}/thumbnail",
            get(rendered::series_thumbnail),
        )
        .route("/studies/{study}/rendered", get(rendered::study_rendered))
        .route("/studies/{study}/thumbnail", get(rendered::study_thumbnail))
}
