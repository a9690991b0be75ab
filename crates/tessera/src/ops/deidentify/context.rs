//! What a node or a command needs to de-identify: the projects' secrets (from
//! `--deid-project`), the partitions originals can be read from, and those de-identified
//! copies can be stored into.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tessera_dicom::deid::Secret;

use crate::config::{ConfigError, Settings};
use crate::index::Index;
use crate::ingest::IngestService;
use crate::ops::{Archive, OpsError};
use crate::storage::BlobStore;

/// The de-identification projects, by name; their secrets are never shown.
#[derive(Debug, Clone, Default)]
pub struct Projects(Arc<BTreeMap<String, Secret>>);

impl Projects {
    pub fn from_settings(settings: &Settings) -> Result<Projects, ConfigError> {
        Ok(Projects(Arc::new(settings.deid_secrets()?)))
    }

    /// The secret of the project named, or why there is none.
    pub fn secret(&self, name: &str) -> Result<Secret, OpsError> {
        self.0.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
            OpsError::Invalid(if known.is_empty() {
                format!(
                    "project {name:?}: no de-identification project is configured \
                     (--deid-project NAME=PATH)"
                )
            } else {
                format!(
                    "project {name:?} is not configured (known: {})",
                    known.join(", ")
                )
            })
        })
    }
}

/// A partition's ingest path, and the index it looks instances up in.
pub struct PartitionIngest {
    pub ingest: Arc<IngestService>,
    pub index: Arc<dyn Index>,
}

/// A partition the originals are read from: its index and blob prefix.
pub struct PartitionSource {
    pub index: Arc<dyn Index>,
    pub store: BlobStore,
}

/// The partitions of this archive, by name: those originals can be read from, and those
/// de-identified copies can be stored into. Opening a partition may connect to its index,
/// hence async.
#[async_trait]
pub trait Partitions: Send + Sync {
    /// A partition to read originals from (`default` is the default partition).
    async fn source(&self, name: &str) -> Result<PartitionSource, OpsError>;
    /// A partition to store de-identified copies into; never the default partition.
    async fn ingest(&self, name: &str) -> Result<PartitionIngest, OpsError>;
}

/// The partitions of the archive the settings name, each opened as `tessera export
/// --partition` opens it (its own index and blob prefix; it must have been created), with the
/// ingest path of STOW-RS over them. The default partition holds the clinical originals, so
/// it is refused as a target: de-identified copies never land among them.
pub struct ArchivePartitions(pub Settings);

#[async_trait]
impl Partitions for ArchivePartitions {
    async fn source(&self, name: &str) -> Result<PartitionSource, OpsError> {
        let archive = Archive::open_partition(&self.0, name).await?;
        Ok(PartitionSource {
            index: archive.index,
            store: archive.store,
        })
    }

    async fn ingest(&self, name: &str) -> Result<PartitionIngest, OpsError> {
        let archive = Archive::open_partition(&self.0, name).await?;
        if archive.partition.is_none() {
            return Err(OpsError::Invalid(format!(
                "partition {name:?} is the default partition, which holds the clinical originals: \
                 de-identified copies go to another partition"
            )));
        }
        Ok(PartitionIngest {
            ingest: archive.ingest(),
            index: Arc::clone(&archive.index),
        })
    }
}

/// Projects and partitions, as a node (its jobs) or a command has them.
#[derive(Clone)]
pub struct DeidentifyContext {
    pub projects: Projects,
    pub partitions: Arc<dyn Partitions>,
}

impl DeidentifyContext {
    /// The projects and the partitions of these settings.
    pub fn from_settings(settings: &Settings) -> Result<DeidentifyContext, ConfigError> {
        Ok(DeidentifyContext {
            projects: Projects::from_settings(settings)?,
            partitions: Arc::new(ArchivePartitions(settings.clone())),
        })
    }
}
