//! Keeping an external FHIR server current: after every change, the study's ImagingStudy is
//! sent there (conditional update on its `urn:dicom:uid` identifier and its Endpoint), with
//! its Endpoint and a reference to the Patient found (or created) by identifier; a study that
//! is gone is deleted there. Each partition pushes its own studies with its own Endpoint (its
//! DICOMweb root), so the same study UID in two partitions is two resources there.
//!
//! Driven by the change feed with a cursor stored in the index: the cursor moves only after
//! every study of a batch was sent (at least once), so nothing is lost across a restart of
//! Tessera or an outage of the FHIR server; the many instance changes of one study in a batch
//! become one update. With several nodes, a lease in the index lets one of them push at a time.

pub mod client;
mod error;
pub mod served;
mod settings;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::index::Index;
use crate::metrics::Metrics;
use client::{query, FhirClient};
pub use error::PushError;
pub use settings::{FhirAuth, FhirPushSettings};
use tessera_dicom::uid::StudyUid;

/// The worker's name in the index (its cursor and lease).
pub const WORKER: &str = "fhir-push";
/// Change-feed entries read per batch.
const BATCH: u32 = 1000;
/// How long a node holds the lease without renewing it.
const LEASE: Duration = Duration::from_secs(30);
/// Renew the lease when less than this is left.
const RENEW_BEFORE: Duration = Duration::from_secs(20);
/// How often an idle worker looks for new changes, or a non-holder for the lease.
const IDLE_POLL: Duration = Duration::from_millis(300);
const FOLLOWER_POLL: Duration = Duration::from_secs(5);
/// Back-off between retries of a failing push.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// What the push sends, as this archive serves it.
#[async_trait]
pub trait StudyResources: Send + Sync + 'static {
    /// The study's ImagingStudy now; `None` when the study is not stored (any more).
    async fn imaging_study(&self, study: &StudyUid) -> Result<Option<Value>, String>;
    /// This archive's Endpoint resource (its DICOMweb root).
    fn endpoint(&self) -> Value;
    /// The partition pushed (`default` for the plain routes).
    fn partition(&self) -> &str;
}

/// The identifier system under which a pushed ImagingStudy names its partition.
pub const PARTITION_SYSTEM: &str = "urn:tessera:partition";

pub struct FhirPush {
    index: Arc<dyn Index>,
    resources: Arc<dyn StudyResources>,
    client: FhirClient,
    create_patients: bool,
    metrics: Arc<Metrics>,
    /// This process's name in the lease.
    holder: String,
    /// The FHIR server's id of our Endpoint, once sent.
    endpoint_id: Mutex<Option<String>>,
}

/// Where the worker stands with the lease.
struct Lease {
    until: Option<tokio::time::Instant>,
}

impl FhirPush {
    pub fn new(
        settings: &FhirPushSettings,
        index: Arc<dyn Index>,
        resources: Arc<dyn StudyResources>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PushError> {
        Ok(FhirPush {
            index,
            resources,
            client: FhirClient::new(&settings.url, settings.auth.clone())?,
            create_patients: settings.create_patients,
            metrics,
            holder: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            endpoint_id: Mutex::new(None),
        })
    }

    /// Run until the task is dropped. Stopping at any point is safe: the cursor moves only
    /// after a batch was sent.
    pub async fn run(self: Arc<Self>) {
        tracing::info!("FHIR push started");
        let mut lease = Lease { until: None };
        loop {
            match self.step(&mut lease).await {
                Ok(Step::Idle) => tokio::time::sleep(IDLE_POLL).await,
                Ok(Step::Follower) => tokio::time::sleep(FOLLOWER_POLL).await,
                Ok(Step::Worked) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "FHIR push: index unavailable");
                    tokio::time::sleep(FOLLOWER_POLL).await;
                }
            }
        }
    }

    /// Give up the lease (at shutdown), so that the next holder need not wait for it to expire.
    pub async fn release(&self) {
        if let Err(err) = self.index.release_worker(WORKER, &self.holder).await {
            tracing::warn!(error = %err, "FHIR push: could not release the lease");
        }
    }

    /// Take or keep the lease; the cursor when this node holds it.
    async fn hold(&self, lease: &mut Lease) -> Result<Option<i64>, crate::index::IndexError> {
        let now = tokio::time::Instant::now();
        if let Some(until) = lease.until {
            if until > now + (LEASE - RENEW_BEFORE) {
                return self.index.worker_cursor(WORKER).await.map(Some);
            }
        }
        let cursor = self
            .index
            .claim_worker(WORKER, &self.holder, LEASE.as_micros() as i64)
            .await?;
        lease.until = cursor.map(|_| now + LEASE);
        Ok(cursor)
    }

    async fn step(&self, lease: &mut Lease) -> Result<Step, crate::index::IndexError> {
        let Some(cursor) = self.hold(lease).await? else {
            return Ok(Step::Follower);
        };
        let changes = self.index.changes(cursor, BATCH, false).await?;
        let latest = self
            .index
            .latest_change(None)
            .await?
            .map(|c| c.seq)
            .unwrap_or(0);
        self.metrics
            .fhir_push_cursor
            .store(cursor.max(0) as u64, Ordering::Relaxed);
        self.metrics
            .fhir_push_lag
            .store((latest - cursor).max(0) as u64, Ordering::Relaxed);
        let oldest = changes.first().map_or(0, |c| c.changed_at.max(1));
        self.metrics
            .fhir_push_oldest_unsent_micros
            .store(u64::try_from(oldest).unwrap_or(0), Ordering::Relaxed);
        let Some(last) = changes.last().map(|c| c.seq) else {
            return Ok(Step::Idle);
        };
        // Coalesce: one push per study of the batch, whatever number of changes it had.
        let studies: BTreeSet<&str> = changes.iter().map(|c| c.study_uid.as_str()).collect();
        let mut last_error = None;
        for study in studies {
            let Ok(uid) = StudyUid::parse(study) else {
                continue;
            };
            let mut backoff = FIRST_BACKOFF;
            loop {
                match self.push_study(&uid).await {
                    Ok(()) => {
                        self.metrics.inc(&self.metrics.fhir_pushed);
                        break;
                    }
                    Err(PushError::Rejected { reason, .. }) => {
                        // Retrying cannot help; the next change of the study tries again.
                        self.metrics.inc(&self.metrics.fhir_push_rejected);
                        tracing::error!(error = %reason, "FHIR server refused a study");
                        last_error = Some(reason);
                        break;
                    }
                    Err(PushError::Retry { reason, after }) => {
                        self.metrics.inc(&self.metrics.fhir_push_retries);
                        if let Some(newest) = self.index.latest_change(None).await?.map(|c| c.seq) {
                            self.metrics
                                .fhir_push_lag
                                .store((newest - cursor).max(0) as u64, Ordering::Relaxed);
                        }
                        let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                        tracing::warn!(
                            error = %reason,
                            retry_in_ms = wait.as_millis() as u64,
                            "FHIR push failed; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        if self.hold(lease).await?.is_none() {
                            // Another node took over; it starts again from the stored cursor.
                            return Ok(Step::Follower);
                        }
                    }
                }
            }
            if self.hold(lease).await?.is_none() {
                return Ok(Step::Follower);
            }
        }
        if !self
            .index
            .advance_worker(WORKER, &self.holder, last, last_error.as_deref())
            .await?
        {
            lease.until = None;
            return Ok(Step::Follower);
        }
        self.metrics
            .fhir_push_cursor
            .store(last.max(0) as u64, Ordering::Relaxed);
        self.metrics
            .fhir_push_lag
            .store((latest - last).max(0) as u64, Ordering::Relaxed);
        if latest <= last {
            // Caught up; otherwise the next step (at once) reads the next oldest entry.
            self.metrics
                .fhir_push_oldest_unsent_micros
                .store(0, Ordering::Relaxed);
        }
        tracing::debug!(cursor = last, "FHIR push caught up to");
        Ok(Step::Worked)
    }

    /// Send one study as it is now (or delete it there when it is gone).
    async fn push_study(&self, study: &StudyUid) -> Result<(), PushError> {
        // Which resource is this study's: its UID and its partition, each an identifier of
        // the resource, so that the same study UID in two partitions of one archive is two
        // resources there. Not its Endpoint: that is found by the address of the node
        // pushing, which changes when a node restarts elsewhere or another node pushes.
        let partition = self.resources.partition();
        let identifier = format!(
            "{}&{}",
            query("identifier", &format!("urn:dicom:uid|urn:oid:{study}")),
            query("identifier", &format!("{PARTITION_SYSTEM}|{partition}"))
        );
        let resource = self
            .resources
            .imaging_study(study)
            .await
            .map_err(|reason| PushError::Retry {
                reason: format!("reading the study: {reason}"),
                after: None,
            })?;
        let Some(mut resource) = resource else {
            return self
                .client
                .conditional_delete("ImagingStudy", &identifier)
                .await;
        };
        let Some(object) = resource.as_object_mut() else {
            return Err(PushError::Rejected {
                status: 0,
                reason: "the ImagingStudy is not a JSON object".into(),
            });
        };
        // The FHIR server owns its ids; the identifier says which resource this is.
        object.remove("id");
        object.remove("meta");
        if let Some(identifiers) = object.get_mut("identifier").and_then(Value::as_array_mut) {
            identifiers.push(json!({ "system": PARTITION_SYSTEM, "value": partition }));
        } else {
            object.insert(
                "identifier".into(),
                json!([{ "system": PARTITION_SYSTEM, "value": partition }]),
            );
        }
        let endpoint = self.endpoint_id().await?;
        object.insert(
            "endpoint".into(),
            json!([{ "reference": format!("Endpoint/{endpoint}") }]),
        );
        if let Some(patient) = self.patient(object.get("subject")).await? {
            if let Some(subject) = object.get_mut("subject").and_then(Value::as_object_mut) {
                subject.insert(
                    "reference".into(),
                    Value::String(format!("Patient/{patient}")),
                );
            }
        }
        self.client
            .conditional_update("ImagingStudy", &identifier, &resource)
            .await
            .map(|_| ())
    }

    /// The FHIR server's id of our Endpoint, sending it the first time.
    async fn endpoint_id(&self) -> Result<String, PushError> {
        let mut known = self.endpoint_id.lock().await;
        if let Some(id) = known.as_ref() {
            return Ok(id.clone());
        }
        let mut endpoint = self.resources.endpoint();
        let address = endpoint["address"].as_str().unwrap_or_default().to_string();
        if let Some(object) = endpoint.as_object_mut() {
            object.remove("id");
            object.insert(
                "identifier".into(),
                json!([{ "system": "urn:ietf:rfc:3986", "value": address }]),
            );
        }
        let search = query("identifier", &format!("urn:ietf:rfc:3986|{address}"));
        let id = self
            .client
            .conditional_update("Endpoint", &search, &endpoint)
            .await?;
        *known = Some(id.clone());
        Ok(id)
    }

    /// The FHIR server's id of the study's Patient, found by identifier (and created when
    /// missing, unless switched off); `None` without a patient identifier.
    async fn patient(&self, subject: Option<&Value>) -> Result<Option<String>, PushError> {
        let Some(subject) = subject else {
            return Ok(None);
        };
        let Some(value) = subject["identifier"]["value"].as_str() else {
            return Ok(None);
        };
        let token = match subject["identifier"]["system"].as_str() {
            Some(system) => format!("{system}|{value}"),
            None => value.to_string(),
        };
        let search = query("identifier", &token);
        if !self.create_patients {
            let found = self.client.search_ids("Patient", &search).await?;
            return Ok((found.len() == 1).then(|| found[0].clone()));
        }
        let mut patient = json!({
            "resourceType": "Patient",
            "identifier": [subject["identifier"].clone()],
        });
        if let Some(display) = subject["display"].as_str().filter(|d| !d.is_empty()) {
            patient["name"] = json!([{ "text": display }]);
        }
        self.client
            .conditional_create("Patient", &search, &patient)
            .await
            .map(Some)
    }
}

enum Step {
    /// Holds the lease; nothing new to send.
    Idle,
    /// Another node holds the lease.
    Follower,
    /// Sent a batch.
    Worked,
}
