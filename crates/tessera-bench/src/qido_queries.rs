//! The query mix: each kind of QIDO-RS search and how one request of it is drawn from the
//! known keys (a random study, weighted as the archive is), with the UID it must return.

use rand::rngs::StdRng;
use rand::Rng;

use super::qido_keys::Keys;
use super::qido_synth::days_in_month;

pub const STUDY_UID: &str = "0020000D";
pub const SERIES_UID: &str = "0020000E";
pub const SOP_UID: &str = "00080018";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PatientId,
    NamePrefix,
    DateRange,
    Modality,
    Accession,
    SeriesOfStudy,
    InstancesOfSeries,
    Paging,
    Fuzzy,
    SeriesByModalityDate,
    InstancePage,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::PatientId,
        Kind::NamePrefix,
        Kind::DateRange,
        Kind::Modality,
        Kind::Accession,
        Kind::SeriesOfStudy,
        Kind::InstancesOfSeries,
        Kind::Paging,
        Kind::Fuzzy,
        Kind::SeriesByModalityDate,
        Kind::InstancePage,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::PatientId => "PatientID",
            Kind::NamePrefix => "PatientName=Abc*",
            Kind::DateRange => "StudyDate month",
            Kind::Modality => "ModalitiesInStudy",
            Kind::Accession => "AccessionNumber",
            Kind::SeriesOfStudy => "series of study",
            Kind::InstancesOfSeries => "inst. of series",
            Kind::Paging => "limit+offset",
            Kind::Fuzzy => "fuzzy PatientName",
            Kind::SeriesByModalityDate => "series Modality+month",
            Kind::InstancePage => "instances limit=100",
        }
    }
}

/// One request: the path and query below the DICOMweb root, and the UID (by tag) that must
/// be among the results.
pub struct Query {
    pub path: String,
    pub expect: Option<(&'static str, String)>,
}

/// A query of `kind`, or `None` when the keys cannot make one (nothing discovered for it).
pub fn build(kind: Kind, keys: &Keys, rng: &mut StdRng) -> Option<Query> {
    if keys.studies.is_empty() {
        return None;
    }
    let study = &keys.studies[rng.random_range(0..keys.studies.len())];
    let plain = |path: String| Some(Query { path, expect: None });
    let exact = |path: String, tag, uid: &str| {
        Some(Query {
            path,
            expect: Some((tag, uid.to_string())),
        })
    };
    match kind {
        Kind::PatientId if !study.patient_id.is_empty() => exact(
            format!("/studies?PatientID={}", enc(&study.patient_id)),
            STUDY_UID,
            &study.uid,
        ),
        Kind::NamePrefix if !study.family.is_empty() => {
            let prefix: String = study.family.chars().take(3).collect();
            plain(format!("/studies?PatientName={}*", enc(&prefix)))
        }
        Kind::DateRange if study.date.len() == 8 => {
            let (year, month) = (&study.date[..4], &study.date[4..6]);
            let last = days_in_month(year.parse().ok()?, month.parse().ok()?);
            plain(format!(
                "/studies?StudyDate={year}{month}01-{year}{month}{last}"
            ))
        }
        Kind::Modality if !study.modalities.is_empty() => {
            let modality = &study.modalities[rng.random_range(0..study.modalities.len())];
            plain(format!(
                "/studies?ModalitiesInStudy={}&limit=100",
                enc(modality)
            ))
        }
        Kind::Accession if !study.accession.is_empty() => exact(
            format!("/studies?AccessionNumber={}", enc(&study.accession)),
            STUDY_UID,
            &study.uid,
        ),
        Kind::SeriesOfStudy if !keys.with_series.is_empty() => {
            let study =
                &keys.studies[keys.with_series[rng.random_range(0..keys.with_series.len())]];
            let series = &study.series[rng.random_range(0..study.series.len())];
            exact(
                format!("/studies/{}/series", study.uid),
                SERIES_UID,
                &series.uid,
            )
        }
        Kind::InstancesOfSeries if !keys.with_instance.is_empty() => {
            let (i, j) = keys.with_instance[rng.random_range(0..keys.with_instance.len())];
            let (study, series) = (&keys.studies[i], &keys.studies[i].series[j]);
            exact(
                format!("/studies/{}/series/{}/instances", study.uid, series.uid),
                SOP_UID,
                series.sop.as_deref()?,
            )
        }
        Kind::Paging => {
            let offset = rng.random_range(0..=keys.studies.len().saturating_sub(100));
            plain(format!("/studies?limit=100&offset={offset}"))
        }
        Kind::Fuzzy if !study.family.is_empty() => {
            let prefix: String = study.family.to_lowercase().chars().take(3).collect();
            plain(format!(
                "/studies?PatientName={}&fuzzymatching=true",
                enc(&prefix)
            ))
        }
        // Series across studies: a modality of the study and its month (a relational query,
        // series filtered on a study attribute).
        Kind::SeriesByModalityDate if study.date.len() == 8 && !study.modalities.is_empty() => {
            let (year, month) = (&study.date[..4], &study.date[4..6]);
            let last = days_in_month(year.parse().ok()?, month.parse().ok()?);
            let modality = &study.modalities[rng.random_range(0..study.modalities.len())];
            plain(format!(
                "/series?Modality={}&StudyDate={year}{month}01-{year}{month}{last}",
                enc(modality)
            ))
        }
        // The archive's first 100 instances (the whole archive matches: a list no filter
        // narrows).
        Kind::InstancePage => plain("/instances?limit=100".to_string()),
        // The drawn study lacks the attribute (discovered archives): skip this draw.
        _ => None,
    }
}

/// Percent-encoding for a query value (`*` and `-` stay literal).
fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    use crate::qido_synth::Corpus;

    #[test]
    fn every_kind_builds_from_a_corpus() {
        let corpus = Corpus::new(5_000, 1);
        let keys = Keys::from_corpus(&corpus);
        let mut rng = StdRng::seed_from_u64(9);
        for kind in Kind::ALL {
            for _ in 0..50 {
                let q = build(kind, &keys, &mut rng).expect("a query");
                let root = match kind {
                    Kind::SeriesByModalityDate => "/series?",
                    Kind::InstancePage => "/instances?",
                    _ => "/studies",
                };
                assert!(q.path.starts_with(root), "{}", q.path);
                let exact = matches!(
                    kind,
                    Kind::PatientId
                        | Kind::Accession
                        | Kind::SeriesOfStudy
                        | Kind::InstancesOfSeries
                );
                assert_eq!(q.expect.is_some(), exact);
            }
        }
        assert_eq!(enc("O'Brien^José*"), "O%27Brien%5EJos%C3%A9*");
    }
}
