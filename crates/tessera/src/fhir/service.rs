//! The FHIR service: reads and searches ImagingStudy resources over the index, with the
//! QIDO query machinery (`query`) finding the studies.

use std::sync::Arc;

use serde_json::{json, Value};

use super::bundle::{self, Page};
use super::capability;
use super::endpoint::{self, ENDPOINT_ID};
use super::imaging_study::{self, MappingOptions};
use super::params::{self, Check, SearchPlan};
use crate::fhir::FhirError;
use crate::index::{ChangeAction, Index};
use crate::query::attributes::Level;
use crate::query::SearchQuery;
use tessera_dicom::uid::StudyUid;

/// Most candidate studies a search with identifier-system checks looks at.
pub const CHECK_CANDIDATES: u32 = 1000;

const SUBSETTED: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

pub struct FhirService {
    index: Arc<dyn Index>,
    options: MappingOptions,
}

impl FhirService {
    pub fn new(index: Arc<dyn Index>, options: MappingOptions) -> Self {
        FhirService { index, options }
    }

    pub fn options(&self) -> &MappingOptions {
        &self.options
    }

    /// The ImagingStudy of a study as the archive holds it now; `None` when the index has no
    /// instance of it. (The push to an external FHIR server can use this.)
    pub async fn study_resource(&self, study: &StudyUid) -> Result<Option<Value>, FhirError> {
        let rows = self.index.instances_of(study, None, None).await?;
        Ok(imaging_study::imaging_study(&rows, &self.options))
    }

    /// `GET /fhir/ImagingStudy/{id}`, optionally with `_elements`.
    pub async fn imaging_study(
        &self,
        id: &str,
        elements: Option<&str>,
    ) -> Result<Value, FhirError> {
        let elements = elements.map(params::elements).transpose()?;
        let not_found = || FhirError::NotFound(format!("ImagingStudy/{id} is not known"));
        // The id is the StudyInstanceUID; anything else cannot name a study.
        let study = StudyUid::parse(id).map_err(|_| not_found())?;
        let Some(resource) = self.study_resource(&study).await? else {
            // A study the change feed saw deleted answers 410 Gone, as FHIR servers answer
            // for deleted resources; one never stored, 404.
            let last = self.index.latest_change(Some(&study)).await?;
            return Err(match last {
                Some(change) if change.action == ChangeAction::Delete => {
                    FhirError::Gone(format!("ImagingStudy/{id} was deleted"))
                }
                _ => not_found(),
            });
        };
        Ok(match elements {
            Some(list) => subset(resource, &list),
            None => resource,
        })
    }

    /// `GET /fhir/Endpoint/{id}`.
    pub fn endpoint(&self, id: &str, base: &str) -> Result<Value, FhirError> {
        if id == ENDPOINT_ID {
            Ok(endpoint::endpoint(base))
        } else {
            Err(FhirError::NotFound(format!("Endpoint/{id} is not known")))
        }
    }

    /// `GET /fhir/metadata`.
    pub fn capability_statement(&self, base: &str) -> Value {
        capability::capability_statement(base)
    }

    /// `GET /fhir/ImagingStudy?...`: a searchset Bundle. `pairs` are the decoded query
    /// parameters; `base` is where this server is reached (links and fullUrls);
    /// `strict`: unknown parameters are errors (else ignored).
    pub async fn search(
        &self,
        pairs: &[(String, String)],
        base: &str,
        strict: bool,
    ) -> Result<Value, FhirError> {
        let plan = params::parse(pairs, strict)?;
        let (total, resources) = if plan.matches_nothing {
            (0, Vec::new())
        } else if plan.checks.is_empty() {
            self.page_in_index(&plan).await?
        } else {
            self.page_after_checks(&plan).await?
        };
        let fhir_base = format!("{}/fhir", base.trim_end_matches('/'));
        let link = |offset: u64| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &plan.link_params {
                query.append_pair(name, value);
            }
            if offset > 0 {
                query.append_pair("_offset", &offset.to_string());
            }
            let query = query.finish();
            if query.is_empty() {
                format!("{fhir_base}/ImagingStudy")
            } else {
                format!("{fhir_base}/ImagingStudy?{query}")
            }
        };
        let next = plan.offset + u64::from(plan.count);
        let next_url = (plan.count > 0 && next < total).then(|| link(next));
        let entries = resources
            .into_iter()
            .map(|resource| {
                let id = resource["id"].as_str().unwrap_or_default().to_string();
                let resource = match &plan.elements {
                    Some(list) => subset(resource, list),
                    None => resource,
                };
                (format!("{fhir_base}/ImagingStudy/{id}"), resource)
            })
            .collect();
        Ok(bundle::searchset(Page {
            total,
            self_url: link(plan.offset),
            next_url,
            entries,
        }))
    }

    fn query(plan: &SearchPlan, limit: u32, offset: u64) -> SearchQuery {
        SearchQuery {
            level: Level::Study,
            study: None,
            series: None,
            filters: plan.filters.clone(),
            include: Vec::new(),
            include_all: false,
            limit: limit.max(1),
            offset,
            limit_is_servers: false,
        }
    }

    async fn resources_of(&self, uids: Vec<String>) -> Result<Vec<Value>, FhirError> {
        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            let Ok(study) = StudyUid::parse(&uid) else {
                continue;
            };
            // A study removed between the search and this read is simply not listed.
            if let Some(resource) = self.study_resource(&study).await? {
                out.push(resource);
            }
        }
        Ok(out)
    }

    async fn study_uids(&self, query: &SearchQuery) -> Result<Vec<String>, FhirError> {
        let rows = self.index.search(query).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match row.values.get("StudyInstanceUID") {
                Some(crate::query::values::RowValue::Text(Some(uid))) => Some(uid.clone()),
                _ => None,
            })
            .collect())
    }

    /// Filters only: the index counts and pages.
    async fn page_in_index(&self, plan: &SearchPlan) -> Result<(u64, Vec<Value>), FhirError> {
        let query = Self::query(plan, plan.count, plan.offset);
        let total = self.index.count_matches(&query).await?;
        if plan.count == 0 || plan.offset >= total {
            return Ok((total, Vec::new()));
        }
        let mut uids = self.study_uids(&query).await?;
        uids.truncate(plan.count as usize);
        Ok((total, self.resources_of(uids).await?))
    }

    /// With identifier-system checks: the index narrows (PatientID or accession number
    /// always filter), the built resources are checked, and the page is cut here.
    async fn page_after_checks(&self, plan: &SearchPlan) -> Result<(u64, Vec<Value>), FhirError> {
        let query = Self::query(plan, CHECK_CANDIDATES, 0);
        let uids = self.study_uids(&query).await?;
        if uids.len() > CHECK_CANDIDATES as usize {
            return Err(FhirError::TooCostly(format!(
                "more than {CHECK_CANDIDATES} studies match before the identifier systems are \
                 checked; add criteria"
            )));
        }
        let matching: Vec<Value> = self
            .resources_of(uids)
            .await?
            .into_iter()
            .filter(|resource| plan.checks.iter().all(|check| passes(resource, check)))
            .collect();
        let total = matching.len() as u64;
        let page = matching
            .into_iter()
            .skip(plan.offset as usize)
            .take(plan.count as usize)
            .collect();
        Ok((total, page))
    }
}

fn identifier_parts(identifier: &Value) -> (Option<&str>, &str) {
    (
        identifier["system"].as_str(),
        identifier["value"].as_str().unwrap_or_default(),
    )
}

/// Whether a built ImagingStudy satisfies a check.
fn passes(resource: &Value, check: &Check) -> bool {
    match check {
        Check::Accession(tokens) => resource["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"]["coding"][0]["code"] == "ACSN")
            .any(|i| {
                let (system, value) = identifier_parts(i);
                tokens.iter().any(|t| t.matches(system, value))
            }),
        Check::Subject(tokens) => {
            let (system, value) = identifier_parts(&resource["subject"]["identifier"]);
            tokens.iter().any(|t| t.matches(system, value))
        }
    }
}

/// `_elements`: keep id, meta and the listed top-level elements plus the mandatory ones
/// (status, subject), and tag the resource SUBSETTED as FHIR requires.
pub fn subset(resource: Value, elements: &[String]) -> Value {
    let Value::Object(map) = resource else {
        return resource;
    };
    let keep = |key: &str| {
        matches!(key, "resourceType" | "id" | "meta" | "status" | "subject")
            || elements.iter().any(|e| e == key)
    };
    let mut out: serde_json::Map<String, Value> =
        map.into_iter().filter(|(k, _)| keep(k)).collect();
    let meta = out.entry("meta").or_insert_with(|| json!({}));
    if let Value::Object(meta) = meta {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Value::Array(tags) = tags {
            tags.push(json!({ "system": SUBSETTED, "code": "SUBSETTED" }));
        }
    }
    Value::Object(out)
}
