//! Where de-identified instances go: every destination of `tessera export` (a folder, a zip,
//! an object-store prefix, through [`crate::ops::export::dest`]; a STOW-RS service, through
//! the import's client), or a partition of this archive, through its ingest path.

use std::path::PathBuf;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::context::Partitions;
use crate::ops::export::dest::Destination;
use crate::ops::export::stow::exported;
use crate::ops::export::Exported;
use crate::ops::import::direct::Direct;
use crate::ops::import::load::{Data, Item};
use crate::ops::import::stow::StowClient;
use crate::ops::OpsError;
use crate::partition::PartitionName;
use crate::storage::{BlobKey, PendingSync};

/// Files written at once into a folder or an object-store prefix.
const WRITES: usize = 4;

/// Where a run writes, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A destination as `tessera export --to` takes it.
    Destination(String),
    /// A partition of this archive, by name.
    Partition(String),
}

impl Place {
    /// The place as it may be shown and recorded: no query string (it may hold a SAS).
    pub fn redacted(&self) -> String {
        match self {
            Place::Destination(to) => to.split('?').next().unwrap_or_default().to_string(),
            Place::Partition(name) => format!("partition {name}"),
        }
    }
}

/// One de-identified instance to write.
pub struct Output {
    /// `{study}/{series}/{sop}.dcm` by the new UIDs.
    pub name: String,
    pub study: String,
    pub sop: String,
    pub bytes: Bytes,
}

/// An open place to write to.
pub enum Target {
    Files(Destination),
    Stow(StowClient),
    Partition(Direct),
}

impl Target {
    pub async fn open(
        place: &Place,
        token: Option<String>,
        partitions: &dyn Partitions,
    ) -> Result<Target, OpsError> {
        Ok(match place {
            Place::Destination(to) if to.starts_with("http://") || to.starts_with("https://") => {
                Target::Stow(StowClient::new(to, token)?)
            }
            Place::Destination(to) => Target::Files(Destination::open(to)?),
            Place::Partition(name) => {
                let partition = partitions.ingest(name).await?;
                Target::Partition(Direct::new(partition.ingest, partition.index))
            }
        })
    }

    /// Write a batch; one result per output, in order. A destination that cannot be written
    /// stops the run (an error); an instance a store refuses fails alone.
    pub async fn write(&mut self, outputs: Vec<Output>) -> Result<Vec<Exported>, OpsError> {
        match self {
            Target::Files(Destination::Store(store)) => {
                // A few files at once, each synced and renamed into place as it is written,
                // and their folders synced once for the batch (as the ingest path does).
                let count = outputs.len();
                let writes = outputs.into_iter().map(|output| {
                    let store = store.clone();
                    async move {
                        let key = BlobKey::from_stored(output.name);
                        store.put(&key, output.bytes).await
                    }
                });
                let pending: Vec<PendingSync> = futures::stream::iter(writes)
                    .buffered(WRITES)
                    .try_collect()
                    .await?;
                store.make_durable(&pending).await?;
                Ok(vec![Exported::Written; count])
            }
            Target::Files(destination) => {
                let mut results = Vec::with_capacity(outputs.len());
                for output in outputs {
                    destination.write(&output.name, output.bytes).await?;
                    results.push(Exported::Written);
                }
                Ok(results)
            }
            Target::Stow(client) => Ok(client
                .send(items(outputs))
                .await
                .into_iter()
                .map(exported)
                .collect()),
            Target::Partition(direct) => {
                let names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
                let stored = direct.store(items(outputs)).await;
                if let Some(err) = stored.error {
                    return Err(err.into());
                }
                // The ingest answers instances stored already first: matched back by name.
                let mut by_name: std::collections::HashMap<String, Exported> = stored
                    .results
                    .into_iter()
                    .map(|r| (r.path.clone(), exported(r)))
                    .collect();
                Ok(names
                    .iter()
                    .map(|name| {
                        by_name
                            .remove(name)
                            .unwrap_or_else(|| Exported::Failed("not stored".into()))
                    })
                    .collect())
            }
        }
    }

    /// Finish the destination (a zip's central directory).
    pub async fn finish(&mut self) -> Result<(), OpsError> {
        match self {
            Target::Files(destination) => destination.finish().await,
            Target::Stow(_) | Target::Partition(_) => Ok(()),
        }
    }
}

fn items(outputs: Vec<Output>) -> Vec<Item> {
    outputs
        .into_iter()
        .map(|output| Item {
            path: PathBuf::from(output.name),
            member: None,
            bytes: output.bytes.len() as u64,
            data: Data::Memory(output.bytes),
            sop: Some(output.sop),
            study: Some(output.study),
            walked: true,
            wrapped: false,
        })
        .collect()
}

/// Refuse to write de-identified copies into the partition their originals are read from.
pub fn same_partition(from: &str, to: &str) -> Result<(), OpsError> {
    let parse =
        |name: &str| PartitionName::parse(name).map_err(|e| OpsError::Invalid(e.to_string()));
    if parse(from)? == parse(to)? {
        return Err(OpsError::Invalid(format!(
            "partition {to:?} is where the originals are read from: de-identified copies go \
             to another partition"
        )));
    }
    Ok(())
}
