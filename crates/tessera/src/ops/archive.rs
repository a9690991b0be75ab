//! The stores of an archive opened from settings, as `serve` opens them, for a command.

use std::sync::Arc;

use crate::audit::AuditRecord;
use crate::config::Settings;
use crate::index::{self, Index};
use crate::ingest::IngestService;
use crate::query::extra;
use crate::storage::BlobStore;

use super::OpsError;

/// Connections a command keeps to the index: enough for its parallel work, few enough to
/// leave the serving nodes theirs.
const COMMAND_CONNECTIONS: u32 = 8;

/// One archive's blob store and index.
pub struct Archive {
    pub settings: Settings,
    pub store: BlobStore,
    pub index: Arc<dyn Index>,
}

impl Archive {
    /// Open the store and the index the settings name; migrations as `--migrate` says.
    pub async fn open(settings: &Settings) -> Result<Archive, OpsError> {
        let store = BlobStore::from_url(&settings.storage_url(), settings.fsync)?;
        let extras = extra::parse_config(&settings.extra_query_attributes)?;
        let index = index::connect_with(
            &settings.database_url(),
            settings.db_max_connections.min(COMMAND_CONNECTIONS),
            extras,
            settings.migrations(),
        )
        .await?;
        Ok(Archive {
            settings: settings.clone(),
            store,
            index,
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

    /// Write one record to the audit trail.
    pub async fn audit(&self, record: AuditRecord) -> Result<(), OpsError> {
        Arc::clone(&self.index)
            .audit_log()
            .append_audit(&[record])
            .await?;
        Ok(())
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
        staging,
    }
}
