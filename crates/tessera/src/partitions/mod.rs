//! The archive's partitions on one node: the registry in the default index says which exist
//! (so a partition created on one node is known to all), and each is opened on its first use
//! on this node (its index, its blob prefix, its services built by [`services::Shared`] as
//! the default's are, its background work) and kept until the node stops.
//!
//! A partition's background work: the group commit of a SQLite index (started with the
//! index), the orphan sweeper of its blob prefix when sweeping is on, and, when a FHIR server
//! is set, its own FHIR push (its cursor and lease in its own index; its ImagingStudy
//! resources point at an Endpoint whose address is the partition's DICOMweb root). Export
//! jobs and the DICOM port serve the default partition only.

pub mod services;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use crate::fhir::push::served::ServedStudies;
use crate::fhir::push::FhirPush;
use crate::http::partitions::{Partition, Partitions};
use crate::http::AppState;
use crate::index::{self, IndexError, PartitionRegistry, PoolSettings};
use crate::ingest::sweep;
use crate::metrics::Metrics;
use crate::partition::{PartitionError, PartitionInfo, PartitionName};
use crate::time::now_micros;
use services::Shared;

/// The partitions of the archive, as this node has them open.
pub struct PartitionSet {
    shared: Shared,
    /// The default partition's services (without this set in them): whose caches the
    /// partitions share.
    default: AppState,
    registry: Arc<dyn PartitionRegistry>,
    open: RwLock<HashMap<PartitionName, Arc<Partition>>>,
    /// Held while a partition is being opened, so that it is opened once.
    opening: tokio::sync::Mutex<()>,
    /// The background tasks of the open partitions.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The open partitions' FHIR push workers (their leases are given up at shutdown).
    pushers: Mutex<Vec<Arc<FhirPush>>>,
    /// Where this node is reached (`http://host:port` or the base URL), once it serves.
    base: OnceLock<String>,
}

impl PartitionSet {
    pub fn new(shared: Shared, default: AppState) -> Arc<PartitionSet> {
        let registry = Arc::clone(&default.index).partition_registry();
        Arc::new(PartitionSet {
            shared,
            default,
            registry,
            open: RwLock::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(Vec::new()),
            pushers: Mutex::new(Vec::new()),
            base: OnceLock::new(),
        })
    }

    /// Where this node is reached: the FHIR push of a partition opened from now on sends
    /// it in its Endpoint's address.
    pub fn serving_at(&self, base: &str) {
        let _ = self.base.set(base.trim_end_matches('/').to_string());
    }

    /// Stop the open partitions' background work (at shutdown), giving up FHIR push leases.
    pub async fn close(&self) {
        self.abort_tasks();
        let pushers: Vec<Arc<FhirPush>> = self
            .pushers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for pusher in pushers {
            pusher.release().await;
        }
    }

    fn abort_tasks(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    fn keep_task(&self, task: JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }

    /// The FHIR push of a partition, when a FHIR server is set and this node serves. Its
    /// counters and gauges are its own, not those of `/metrics` (which are the default
    /// partition's push).
    fn start_push(&self, state: &AppState, name: &PartitionName) {
        let (Some(push), Some(base)) = (self.shared.settings.fhir_push(), self.base.get()) else {
            return;
        };
        let resources = Arc::new(ServedStudies {
            fhir: Arc::clone(&state.fhir),
            root: format!("{base}/dicom-web/partitions/{name}"),
            partition: name.to_string(),
        });
        match FhirPush::new(
            &push,
            Arc::clone(&state.index),
            resources,
            Arc::new(Metrics::new()),
        ) {
            Ok(worker) => {
                let worker = Arc::new(worker);
                self.keep_task(tokio::spawn(Arc::clone(&worker).run()));
                self.pushers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(worker);
            }
            Err(err) => {
                tracing::warn!(partition = %name, error = %err, "cannot start the FHIR push");
            }
        }
    }

    fn unavailable(name: &PartitionName, reason: impl ToString) -> PartitionError {
        PartitionError::Unavailable {
            name: name.to_string(),
            reason: reason.to_string(),
        }
    }

    fn of_index(name: &PartitionName, err: IndexError) -> PartitionError {
        match err {
            IndexError::InvalidUrl { reason, .. } => PartitionError::Unsupported(reason),
            err => Self::unavailable(name, err),
        }
    }

    fn opened(&self, name: &PartitionName) -> Option<Arc<Partition>> {
        let open = self.open.read().unwrap_or_else(|e| e.into_inner());
        open.get(name).cloned()
    }

    /// Open a partition's index (created and migrated when new) and blob prefix, build its
    /// services, start its background work, and keep it.
    async fn open_stores(&self, name: &PartitionName) -> Result<Arc<Partition>, PartitionError> {
        let settings = &self.shared.settings;
        let pool = PoolSettings {
            max_connections: settings.partition_db_max_connections,
            ..settings.index_pool()
        };
        let index = index::open_partition(
            &settings.database_url(),
            name,
            pool,
            self.shared.extras.clone(),
            settings.migrations(),
        )
        .await
        .map_err(|err| Self::of_index(name, err))?;
        let index = index::timed(index, Arc::clone(&self.shared.metrics));
        let store = self
            .default
            .store
            .within_partition(name)
            .map_err(|err| Self::unavailable(name, err))?;
        let state = self
            .shared
            .partition_state(&self.default, name, index, store);
        self.keep_task(tokio::spawn(crate::index::statistics::keep_fresh(
            Arc::clone(&state.index),
            crate::index::statistics::EVERY,
        )));
        if settings.sweep_interval > 0 {
            let task = tokio::spawn(sweep::run_periodically(
                state.store.clone(),
                Arc::clone(&state.index),
                state.ingest.staging.clone(),
                Duration::from_secs(settings.sweep_interval),
                Duration::from_secs(settings.sweep_grace),
            ));
            self.keep_task(task);
        }
        self.start_push(&state, name);
        tracing::info!(partition = %name, "partition opened");
        let partition = Arc::new(Partition::new(name.clone(), state));
        self.open
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), Arc::clone(&partition));
        Ok(partition)
    }
}

impl Drop for PartitionSet {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}

#[async_trait]
impl Partitions for PartitionSet {
    async fn list(&self) -> Result<Vec<PartitionInfo>, PartitionError> {
        self.registry
            .partitions()
            .await
            .map_err(|err| Self::unavailable(&PartitionName::default_partition(), err))
    }

    async fn create(&self, name: &PartitionName) -> Result<bool, PartitionError> {
        if name.is_default() {
            return Ok(false);
        }
        let _opening = self.opening.lock().await;
        let known = self
            .registry
            .partition(name)
            .await
            .map_err(|err| Self::unavailable(name, err))?;
        if known.is_some() {
            return Ok(false);
        }
        // Its index and prefix first, its registry row last: a partition every node can see
        // is one whose stores are ready.
        if self.opened(name).is_none() {
            self.open_stores(name).await?;
        }
        let registered = self.registry.register_partition(name, now_micros()).await;
        if registered.is_err() {
            // Not known to the other nodes: not served here either.
            let mut open = self.open.write().unwrap_or_else(|e| e.into_inner());
            open.remove(name);
        }
        registered.map_err(|err| Self::unavailable(name, err))
    }

    async fn open(&self, name: &PartitionName) -> Result<Option<Arc<Partition>>, PartitionError> {
        if let Some(partition) = self.opened(name) {
            return Ok(Some(partition));
        }
        // Asked before the lock: requests naming partitions that do not exist do not queue
        // behind the opening of one that does.
        let known = self
            .registry
            .partition(name)
            .await
            .map_err(|err| Self::unavailable(name, err))?;
        if known.is_none() {
            return Ok(None);
        }
        let _opening = self.opening.lock().await;
        if let Some(partition) = self.opened(name) {
            return Ok(Some(partition));
        }
        self.open_stores(name).await.map(Some)
    }
}
