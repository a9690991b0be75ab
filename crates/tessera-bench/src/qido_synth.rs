//! The QIDO corpus: a deterministic (seeded) population of patients, small studies and
//! series of ten metadata-only instances. Built sequentially from one RNG, so the first
//! studies are the same whatever the total. UIDs live under a fresh `2.25.<random>` root.

use dicom_dictionary_std::uids;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::qido_names;

pub const INSTANCES_PER_SERIES: u64 = 10;

/// A modality, its storage SOP class, its weight as a study's main modality, and
/// (study description, body part) pairs.
pub struct Modality {
    pub code: &'static str,
    pub sop_class: &'static str,
    weight: u32,
    pub kinds: &'static [(&'static str, &'static str)],
}

pub const MODALITIES: &[Modality] = &[
    Modality {
        code: "CT",
        sop_class: uids::CT_IMAGE_STORAGE,
        weight: 30,
        kinds: &[
            ("CT CHEST W CONTRAST", "CHEST"),
            ("CT HEAD WO CONTRAST", "HEAD"),
            ("CT ABDOMEN PELVIS", "ABDOMEN"),
        ],
    },
    Modality {
        code: "MR",
        sop_class: uids::MR_IMAGE_STORAGE,
        weight: 20,
        kinds: &[
            ("MR BRAIN", "BRAIN"),
            ("MR KNEE RIGHT", "KNEE"),
            ("MR L-SPINE", "LSPINE"),
        ],
    },
    Modality {
        code: "CR",
        sop_class: uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
        weight: 18,
        kinds: &[("XR CHEST PA LAT", "CHEST"), ("XR HAND LEFT", "HAND")],
    },
    Modality {
        code: "DX",
        sop_class: uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
        weight: 14,
        kinds: &[("DX CHEST", "CHEST"), ("DX PELVIS", "PELVIS")],
    },
    Modality {
        code: "US",
        sop_class: uids::ULTRASOUND_IMAGE_STORAGE,
        weight: 15,
        kinds: &[("US ABDOMEN", "ABDOMEN"), ("US THYROID", "NECK")],
    },
    Modality {
        code: "SR",
        sop_class: uids::ENHANCED_SR_STORAGE,
        weight: 3,
        kinds: &[("DOSE REPORT", "")],
    },
];
const SR: usize = 5;

pub struct Patient {
    pub id: String,
    pub family: &'static str,
    /// `Family^Given`.
    pub name: String,
    pub birth_date: String,
    pub sex: &'static str,
}

pub struct Study {
    pub patient: usize,
    pub date: String,
    pub time: String,
    pub accession: String,
    pub referring: String,
    /// Index into `MODALITIES` of the main modality, and into its `kinds`.
    pub modality: usize,
    pub kind: usize,
    /// Its series: `first_series..first_series + series_count` in `Corpus::series`.
    pub first_series: usize,
    pub series_count: usize,
}

pub struct Series {
    pub study: usize,
    pub number: u32,
    pub modality: usize,
    /// Index of its first instance (instance numbers count from there); every series has
    /// `INSTANCES_PER_SERIES` instances but maybe the very last.
    pub first_instance: u64,
}

pub struct Corpus {
    pub uid_root: String,
    pub instances: u64,
    pub patients: Vec<Patient>,
    pub studies: Vec<Study>,
    pub series: Vec<Series>,
}

impl Corpus {
    pub fn new(instances: u64, seed: u64) -> Corpus {
        let family = qido_names::family();
        let given = qido_names::given();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5149_444f); // "QIDO"
        let mut corpus = Corpus {
            uid_root: format!("2.25.{}", rand::random::<u128>().max(1)),
            instances,
            patients: Vec::new(),
            studies: Vec::new(),
            series: Vec::new(),
        };
        let mut studies_left_for_patient = 0;
        let mut placed = 0;
        while placed < instances {
            if studies_left_for_patient == 0 {
                studies_left_for_patient = rng.random_range(1..=5); // about 3 studies each
                let patient = new_patient(&mut rng, corpus.patients.len() + 1, &family, &given);
                corpus.patients.push(patient);
            }
            studies_left_for_patient -= 1;
            let index = corpus.studies.len();
            let modality = weighted_modality(&mut rng);
            let series_count = rng.random_range(1..=3usize);
            let study = Study {
                patient: corpus.patients.len() - 1,
                date: random_date(&mut rng, 2015, 2025),
                time: format!(
                    "{:02}{:02}{:02}",
                    rng.random_range(7..20),
                    rng.random_range(0..60),
                    rng.random_range(0..60)
                ),
                accession: format!("A{:08}", index + 1),
                referring: format!(
                    "{}^{}",
                    family[skewed(&mut rng, family.len())],
                    given[rng.random_range(0..given.len())]
                ),
                modality,
                kind: rng.random_range(0..MODALITIES[modality].kinds.len()),
                first_series: corpus.series.len(),
                series_count: 0,
            };
            corpus.studies.push(study);
            for number in 1..=series_count {
                if placed >= instances {
                    break;
                }
                // Further series repeat the main modality or add a structured report.
                let series_modality = if number > 1 && rng.random_bool(0.25) {
                    SR
                } else {
                    modality
                };
                let count = INSTANCES_PER_SERIES.min(instances - placed);
                corpus.series.push(Series {
                    study: index,
                    number: number as u32,
                    modality: series_modality,
                    first_instance: placed,
                });
                corpus.studies[index].series_count += 1;
                placed += count;
            }
        }
        corpus
    }

    pub fn study_uid(&self, study: usize) -> String {
        format!("{}.1.{}", self.uid_root, study + 1)
    }

    pub fn series_uid(&self, series: usize) -> String {
        format!("{}.2.{}", self.uid_root, series + 1)
    }

    pub fn sop_uid(&self, instance: u64) -> String {
        format!("{}.3.{}", self.uid_root, instance + 1)
    }

    /// The series holding instance `index` (every series but the last has ten).
    pub fn series_of(&self, index: u64) -> usize {
        (index / INSTANCES_PER_SERIES) as usize
    }

    /// Distinct modality codes of a study, in series order.
    pub fn modalities_in_study(&self, study: usize) -> Vec<&'static str> {
        let s = &self.studies[study];
        let mut codes: Vec<&'static str> = Vec::new();
        for series in &self.series[s.first_series..s.first_series + s.series_count] {
            let code = MODALITIES[series.modality].code;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }
}

fn new_patient(rng: &mut StdRng, n: usize, family: &[&'static str], given: &[&str]) -> Patient {
    let last = family[skewed(rng, family.len())];
    let first = given[rng.random_range(0..given.len())];
    Patient {
        id: format!("P{n:07}"),
        family: last,
        name: format!("{last}^{first}"),
        birth_date: random_date(rng, 1930, 2020),
        sex: match rng.random_range(0..100) {
            0..49 => "F",
            49..98 => "M",
            _ => "O",
        },
    }
}

/// An index in `0..len`, the first ones more often, like real name frequencies: the first
/// name of 500 gets about 4.5% of the draws, the median one 0.1%.
fn skewed(rng: &mut StdRng, len: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u * len as f64) as usize).min(len - 1)
}

fn weighted_modality(rng: &mut StdRng) -> usize {
    let total: u32 = MODALITIES.iter().map(|m| m.weight).sum();
    let mut pick = rng.random_range(0..total);
    for (i, m) in MODALITIES.iter().enumerate() {
        if pick < m.weight {
            return i;
        }
        pick -= m.weight;
    }
    0
}

/// YYYYMMDD between Jan 1st of `from` and Dec 31st of `to`.
fn random_date(rng: &mut StdRng, from: u32, to: u32) -> String {
    let year = rng.random_range(from..=to);
    let month = rng.random_range(1..=12);
    let day = rng.random_range(1..=days_in_month(year, month));
    format!("{year:04}{month:02}{day:02}")
}

pub fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_shape_and_determinism() {
        let a = Corpus::new(100_000, 1);
        let b = Corpus::new(1_000, 1);
        assert_eq!(a.series.len(), 10_000);
        assert_eq!(Corpus::new(1_005, 1).series.len(), 101);
        assert!(
            (4_000..6_000).contains(&a.studies.len()),
            "{}",
            a.studies.len()
        );
        assert!(
            (1_300..2_200).contains(&a.patients.len()),
            "{}",
            a.patients.len()
        );
        // Same seed: the same first studies, whatever the total; UIDs differ per run.
        assert_eq!(a.patients[3].name, b.patients[3].name);
        assert_eq!(a.studies[7].date, b.studies[7].date);
        assert_ne!(a.uid_root, b.uid_root);
        for (i, s) in a.series.iter().enumerate() {
            assert_eq!(a.series_of(s.first_instance), i);
        }
        let smith = a.patients.iter().filter(|p| p.family == "Smith").count();
        assert!(smith > 10, "{smith} Smiths");
        let ct = (0..a.studies.len())
            .filter(|&s| a.modalities_in_study(s).contains(&"CT"))
            .count();
        assert!(ct > a.studies.len() / 5);
        assert!(a
            .studies
            .iter()
            .all(|s| ("20150101".."20251232").contains(&&*s.date)));
    }
}
