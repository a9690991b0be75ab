//! The stores of an archive opened from settings, as `serve` opens them, for a command.

use std::sync::Arc;

use crate::audit::AuditRecord;
use crate::config::Settings;
use crate::index::{self, Index};
use crate::ingest::IngestService;
use crate::partition::PartitionName;
use crate::query::extra;
use crate::storage::BlobStore;

use super::OpsError;

/// Connections a command keeps to the index: enough for its parallel work, few enough to
/// leave the serving nodes theirs.
const COMMAND_CONNECTIONS: u32 = 8;

/// One archive's blob store and index: the default partition's, or one partition's.
pub struct Archive {
    pub settings: Settings,
    pub store: BlobStore,
    pub index: Arc<dyn Index>,
    /// The partition, when not the default.
    pub partition: Option<PartitionName>,
    /// Where the audit trail is (the default partition's index).
    trail: Arc<dyn Index>,
}

impl Archive {
    /// Open the store and the index the settings name; migrations as `--migrate` says.
    pub async fn open(settings: &Settings) -> Result<Archive, OpsError> {
        let store = BlobStore::from_url(&settings.storage_url(), settings.fsync)?;
        let extras = extra::parse_config(&settings.extra_query_attributes)?;
        let index = index::connect_with(
            &settings.database_url(),
            command_pool(settings),
            extras,
            settings.migrations(),
        )
        .await?;
        Ok(Archive {
            settings: settings.clone(),
            store,
            trail: Arc::clone(&index),
            index,
            partition: None,
        })
    }

    /// [`Archive::open`], or partition `name`'s index and blob prefix (`--partition`); the
    /// partition must have been created (`default`: the default partition).
    pub async fn open_for(settings: &Settings, name: Option<&str>) -> Result<Archive, OpsError> {
        match name {
            Some(name) => Self::open_partition(settings, name).await,
            None => Self::open(settings).await,
        }
    }

    /// Partition `name`'s index and blob prefix, which must have been created.
    pub async fn open_partition(settings: &Settings, name: &str) -> Result<Archive, OpsError> {
        let name = PartitionName::parse(name).map_err(|e| OpsError::Invalid(e.to_string()))?;
        let default = Self::open(settings).await?;
        if name.is_default() {
            return Ok(default);
        }
        let registry = Arc::clone(&default.index).partition_registry();
        if registry.partition(&name).await?.is_none() {
            return Err(OpsError::Invalid(format!(
                "no partition is named {name:?} (POST /dicom-web/partitions creates one)"
            )));
        }
        default.within(name).await
    }

    /// Partition `name` of this (default) archive, opened whether registered or not, and
    /// registered (`reindex --partition`, rebuilding a lost index).
    pub async fn within(self, name: PartitionName) -> Result<Archive, OpsError> {
        let extras = extra::parse_config(&self.settings.extra_query_attributes)?;
        let index = index::open_partition(
            &self.settings.database_url(),
            &name,
            command_pool(&self.settings),
            extras,
            self.settings.migrations(),
        )
        .await?;
        let registry = Arc::clone(&self.index).partition_registry();
        registry
            .register_partition(&name, crate::time::now_micros())
            .await?;
        Ok(Archive {
            store: self.store.within_partition(&name)?,
            settings: self.settings,
            index,
            trail: self.trail,
            partition: Some(name),
        })
    }

    /// The ingest path of STOW-RS and C-STORE, on this archive's settings.
    pub fn ingest(&self) -> Arc<IngestService> {
        Arc::new(ingest_service(
            self.store.clone(),
            Arc::clone(&self.index),
            &self.settings,
        ))
    }

    /// The default partition's index, where the jobs, their mappings and the audit trail
    /// are kept, whichever partition this archive is.
    pub fn default_index(&self) -> Arc<dyn Index> {
        Arc::clone(&self.trail)
    }

    /// Write one record to the audit trail (naming the partition, when not the default).
    pub async fn audit(&self, mut record: AuditRecord) -> Result<(), OpsError> {
        record.partition = self.partition.as_ref().map(PartitionName::to_string);
        Arc::clone(&self.trail)
            .audit_log()
            .append_audit(&[record])
            .await?;
        Ok(())
    }
}

fn command_pool(settings: &Settings) -> index::PoolSettings {
    index::PoolSettings {
        max_connections: settings.db_max_connections.min(COMMAND_CONNECTIONS),
        ..settings.index_pool()
    }
}

/// The ingest service of these stores, with the settings' duplicate policy and limits (as
/// `serve` builds it for STOW-RS and C-STORE).
pub fn ingest_service(
    store: BlobStore,
    index: Arc<dyn Index>,
    settings: &Settings,
) -> IngestService {
    let staging = store
        .staging_dir()
        .unwrap_or_else(|| settings.data_dir.join("staging"));
    IngestService {
        store,
        index,
        policy: settings.duplicate_policy,
        max_instance_bytes: settings.max_instance_size.bytes(),
        spool_bytes: settings.spool_size.bytes(),
        limits: settings.parse_limits(),
        staging,
    }
}
