//! HTTP: routers and thin handlers. Handlers parse and negotiate; services decide.

pub mod accept;
mod bulkdata;
mod changefeed;
pub mod compression;
mod delete;
mod fhir;
mod frames;
mod health;
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
mod wado;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::CorsLayer;
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
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .nest("/dicom-web", dicom_web)
        .nest("/fhir", fhir::router())
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count,
        ))
        .layer(compression::layer())
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
