//! The services of one partition over its index and blob store, built by the same function
//! for the default partition (at start) and for every other (on its first use): ingest,
//! search, retrieve, frames, delete, the change feed and FHIR, with what the whole process
//! shares (authentication, the audit trail, metrics, limits, the caches' memory).

use std::sync::Arc;

use crate::audit::writer::AuditTrail;
use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::delete::DeleteService;
use crate::feed::FeedService;
use crate::fhir::{FhirService, MappingOptions};
use crate::frames::FrameService;
use crate::http::{AppServices, AppState};
use crate::index::Index;
use crate::metrics::Metrics;
use crate::ops::deidentify::DeidentifyContext;
use crate::partition::PartitionName;
use crate::query::extra::ExtraAttribute;
use crate::query::Limits;
use crate::retrieve::RetrieveService;
use crate::search::service::SearchService;
use crate::storage::BlobStore;
use crate::viewer::Viewer;

/// What every partition's services share: one per process.
#[derive(Clone)]
pub struct Shared {
    pub settings: Settings,
    pub extras: Vec<ExtraAttribute>,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<Authenticator>,
    pub trail: Arc<AuditTrail>,
    pub audit_log: Arc<dyn AuditLog>,
    pub viewer: Option<Arc<Viewer>>,
    pub deidentify: DeidentifyContext,
}

impl Shared {
    /// The default partition's services (the plain routes), with the process's caches.
    pub fn default_state(&self, index: Arc<dyn Index>, store: BlobStore) -> AppState {
        let frames = FrameService::new(
            Arc::clone(&index),
            store.clone(),
            self.settings.frame_cache_size.bytes(),
            Arc::clone(&self.metrics),
        );
        let retrieve =
            RetrieveService::new(Arc::clone(&index), store.clone(), Arc::clone(&self.metrics));
        self.state(index, store, frames, retrieve, None)
    }

    /// Partition `name`'s services over its own index and store, sharing the caches of the
    /// default's (`default`), whose keys tell partitions apart.
    pub fn partition_state(
        &self,
        default: &AppState,
        name: &PartitionName,
        index: Arc<dyn Index>,
        store: BlobStore,
    ) -> AppState {
        let frames = default
            .frames
            .for_partition(Arc::clone(&index), store.clone());
        let retrieve = default
            .retrieve
            .for_partition(Arc::clone(&index), store.clone());
        self.state(index, store, frames, retrieve, Some(name.clone()))
    }

    fn state(
        &self,
        index: Arc<dyn Index>,
        store: BlobStore,
        frames: FrameService,
        retrieve: RetrieveService,
        partition: Option<PartitionName>,
    ) -> AppState {
        let settings = &self.settings;
        let ingest =
            crate::ops::archive::ingest_service(store.clone(), Arc::clone(&index), settings);
        let search = SearchService {
            index: Arc::clone(&index),
            extras: self.extras.clone(),
            limits: Limits {
                default_limit: settings.qido_default_limit,
                max_limit: settings.qido_max_limit,
            },
        };
        let delete = DeleteService {
            index: Arc::clone(&index),
            store: store.clone(),
            locators: frames.locators(),
        };
        let feed = FeedService {
            index: Arc::clone(&index),
        };
        let fhir = FhirService::new(
            Arc::clone(&index),
            MappingOptions {
                patient_id_system: settings.fhir_patient_id_system.clone(),
            },
        );
        AppState::new(AppServices {
            ingest: Arc::new(ingest),
            search: Arc::new(search),
            retrieve: Arc::new(retrieve),
            index,
            store,
            base_url: settings.base_url.clone(),
            max_request_bytes: settings.max_request_size.bytes(),
            max_parts_per_request: settings.max_parts_per_request,
            frames: Arc::new(frames),
            metrics: Arc::clone(&self.metrics),
            delete: Arc::new(delete),
            feed: Arc::new(feed),
            fhir: Arc::new(fhir),
            viewer: self.viewer.clone(),
            cors_allowed_origins: settings.cors_allowed_origins.clone(),
            sign_in: settings.sign_in(),
            auth: Arc::clone(&self.auth),
            trail: Arc::clone(&self.trail),
            audit_log: Arc::clone(&self.audit_log),
            audit_source_id: settings.audit_source_id.clone(),
            metrics_open: settings.metrics_open,
            max_concurrent_requests: settings.max_concurrent_requests,
            deidentify: self.deidentify.clone(),
            partition,
            partitions: None,
            partition_auto_create: settings.partition_auto_create,
        })
    }
}
