//! What the push sends: the ImagingStudy and Endpoint exactly as `/fhir` serves them.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::StudyResources;
use crate::fhir::{endpoint, FhirService};
use tessera_dicom::uid::StudyUid;

pub struct ServedStudies {
    pub fhir: Arc<FhirService>,
    /// The DICOMweb root of the partition pushed (`{base}/dicom-web`, or
    /// `{base}/dicom-web/partitions/{name}`): the Endpoint's address.
    pub root: String,
    /// The partition's name (`default` for the plain routes).
    pub partition: String,
}

#[async_trait]
impl StudyResources for ServedStudies {
    async fn imaging_study(&self, study: &StudyUid) -> Result<Option<Value>, String> {
        self.fhir
            .study_resource(study)
            .await
            .map_err(|err| err.to_string())
    }

    fn endpoint(&self) -> Value {
        endpoint::endpoint_at(&self.root)
    }

    fn partition(&self) -> &str {
        &self.partition
    }
}
