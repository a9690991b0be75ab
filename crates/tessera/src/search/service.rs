//! The search service: settings (extra attributes, limits) + index -> shaped results.

use std::sync::Arc;

use super::response::{self, SearchResults};
use crate::index::Index;
use crate::query::extra::ExtraAttribute;
use crate::query::{parse, Level, Limits};
use crate::service::ServiceError;
use tessera_dicom::uid::{SeriesUid, StudyUid};

pub struct SearchService {
    pub index: Arc<dyn Index>,
    pub extras: Vec<ExtraAttribute>,
    pub limits: Limits,
}

impl SearchService {
    /// Answer one QIDO-RS request: `pairs` are its decoded query parameters; RetrieveURLs
    /// start with `root`, the DICOMweb root (`{base}/dicom-web[/partitions/{name}]`).
    pub async fn search(
        &self,
        level: Level,
        study: Option<StudyUid>,
        series: Option<SeriesUid>,
        pairs: &[(String, String)],
        root: &str,
    ) -> Result<SearchResults, ServiceError> {
        let query = parse::parse(level, study, series, pairs, &self.extras, self.limits)?;
        let rows = self.index.search(&query).await?;
        Ok(response::shape(&query, rows, root))
    }
}
