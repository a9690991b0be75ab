//! What the queries draw their parameters from: the studies known to be in the archive, with
//! the keys to search them by and the UIDs an exact search must return. Taken from the corpus
//! just stored, or discovered in an existing archive (`qido_discover`).

use serde_json::{json, Value};

use super::qido_synth::Corpus;

pub struct StudyKey {
    pub uid: String,
    pub patient_id: String,
    /// Family name component of PatientName (may be empty).
    pub family: String,
    /// YYYYMMDD, or empty.
    pub date: String,
    pub accession: String,
    pub modalities: Vec<String>,
    /// Known series (all of them for a corpus, a sample when discovered).
    pub series: Vec<SeriesKey>,
}

pub struct SeriesKey {
    pub uid: String,
    /// One SOP Instance UID of the series, when known.
    pub sop: Option<String>,
}

pub struct Keys {
    pub studies: Vec<StudyKey>,
    /// Studies with known series, and (study, series) pairs with a known instance.
    pub with_series: Vec<usize>,
    pub with_instance: Vec<(usize, usize)>,
}

impl Keys {
    pub fn new(studies: Vec<StudyKey>) -> Keys {
        let with_series = (0..studies.len())
            .filter(|&i| !studies[i].series.is_empty())
            .collect();
        let with_instance = studies
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.series
                    .iter()
                    .enumerate()
                    .filter(|(_, series)| series.sop.is_some())
                    .map(move |(j, _)| (i, j))
            })
            .collect();
        Keys {
            studies,
            with_series,
            with_instance,
        }
    }

    pub fn from_corpus(corpus: &Corpus) -> Keys {
        let studies = corpus
            .studies
            .iter()
            .enumerate()
            .map(|(i, study)| {
                let patient = &corpus.patients[study.patient];
                let range = study.first_series..study.first_series + study.series_count;
                StudyKey {
                    uid: corpus.study_uid(i),
                    patient_id: patient.id.clone(),
                    family: patient.family.to_string(),
                    date: study.date.clone(),
                    accession: study.accession.clone(),
                    modalities: corpus
                        .modalities_in_study(i)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                    series: range
                        .map(|s| SeriesKey {
                            uid: corpus.series_uid(s),
                            sop: Some(corpus.sop_uid(corpus.series[s].first_instance)),
                        })
                        .collect(),
                }
            })
            .collect();
        Keys::new(studies)
    }

    /// A few keys with their expected matches, to quote and to check by hand.
    pub fn known(&self) -> Value {
        let count = |f: &dyn Fn(&StudyKey) -> bool| self.studies.iter().filter(|s| f(s)).count();
        let pick = |n: usize| &self.studies[n.min(self.studies.len() - 1)];
        let by_patient = self
            .studies
            .iter()
            .find(|s| s.patient_id == "P0001234")
            .unwrap_or_else(|| pick(self.studies.len() / 3));
        let by_accession = self
            .studies
            .iter()
            .find(|s| s.accession == "A00001234")
            .unwrap_or_else(|| pick(self.studies.len() / 2));
        let (study, series) = self.with_instance.first().copied().unwrap_or((0, 0));
        let series_key = self.studies[study].series.get(series);
        json!({
            "studies": self.studies.len(),
            "PatientID": {
                "value": by_patient.patient_id,
                "study_uids": self.studies.iter()
                    .filter(|s| s.patient_id == by_patient.patient_id)
                    .map(|s| s.uid.as_str()).collect::<Vec<_>>(),
            },
            "AccessionNumber": { "value": by_accession.accession, "study_uid": by_accession.uid },
            "PatientName=Smi*": count(&|s| s.family.starts_with("Smi")),
            "StudyDate=20200101-20200131": count(&|s| s.date.starts_with("202001")),
            "ModalitiesInStudy=MR": count(&|s| s.modalities.iter().any(|m| m == "MR")),
            "series": {
                "study_uid": self.studies[study].uid,
                "series_uid": series_key.map(|s| s.uid.as_str()),
                "sop_uid": series_key.and_then(|s| s.sop.as_deref()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_keys_cover_every_study_and_series() {
        let corpus = Corpus::new(2_000, 1);
        let keys = Keys::from_corpus(&corpus);
        assert_eq!(keys.studies.len(), corpus.studies.len());
        assert_eq!(keys.with_series.len(), corpus.studies.len());
        assert_eq!(keys.with_instance.len(), corpus.series.len());
        let known = keys.known();
        assert!(!known["PatientID"]["study_uids"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}
