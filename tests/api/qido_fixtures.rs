//! The QIDO corpus: small synthetic Part 10 instances built in memory with chosen attributes
//! (12 studies, 25 series, 52 instances), plus 9 real files from testdata whose names use
//! other character sets. Every object has a label (`S05` study, `S05.2` series, `S05.2.1`
//! instance; a real file's stem for its study, series and instance) so that expectations
//! read as labels, not UIDs.

use std::collections::BTreeMap;

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use crate::helpers::{expected, read_testdata};

pub const CT: &str = uids::CT_IMAGE_STORAGE;
pub const MR: &str = uids::MR_IMAGE_STORAGE;
pub const US: &str = uids::ULTRASOUND_IMAGE_STORAGE;
pub const SR: &str = uids::BASIC_TEXT_SR_STORAGE;

/// Real files stored beside the synthetic corpus (one study, series and instance each).
pub const REAL_FILES: &[&str] = &[
    "CT_small",
    "chrGreek",
    "chrRuss",
    "chrH31",
    "chrI2",
    "chrKoreanMulti",
    "chrX1",
    "chrFren",
    "chrGerm",
];

/// One Part 10 instance under construction.
pub struct Part10 {
    obj: InMemDicomObject,
}

impl Part10 {
    pub fn new(sop_class: &str, sop_instance: &str) -> Part10 {
        Part10 {
            obj: InMemDicomObject::new_empty(),
        }
        .text(tags::SOP_CLASS_UID, VR::UI, sop_class)
        .text(tags::SOP_INSTANCE_UID, VR::UI, sop_instance)
    }

    /// A text element (backslashes separate values); an empty value is written zero-length.
    pub fn text(mut self, tag: Tag, vr: VR, value: &str) -> Part10 {
        self.obj
            .put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        self
    }

    /// A text element only when the value is not empty.
    pub fn text_if(self, tag: Tag, vr: VR, value: &str) -> Part10 {
        if value.is_empty() {
            self
        } else {
            self.text(tag, vr, value)
        }
    }

    /// Any element (sequences, for instance).
    pub fn element(mut self, element: DataElement<InMemDicomObject>) -> Part10 {
        self.obj.put(element);
        self
    }

    pub fn us(mut self, tag: Tag, value: u16) -> Part10 {
        self.obj
            .put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
        self
    }

    /// 8-bit MONOCHROME2 pixels, `frames` frames of `rows` x `columns`.
    pub fn pixels(mut self, rows: u16, columns: u16, frames: u32) -> Part10 {
        self = self
            .us(tags::SAMPLES_PER_PIXEL, 1)
            .text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2")
            .us(tags::ROWS, rows)
            .us(tags::COLUMNS, columns)
            .us(tags::BITS_ALLOCATED, 8)
            .us(tags::BITS_STORED, 8)
            .us(tags::HIGH_BIT, 7)
            .us(tags::PIXEL_REPRESENTATION, 0);
        if frames > 1 {
            self = self.text(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string());
        }
        let len = usize::from(rows) * usize::from(columns) * frames as usize;
        let pixels: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        self.obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(pixels),
        ));
        self
    }

    /// The Part 10 file (Explicit VR Little Endian).
    pub fn build(self) -> Bytes {
        let file = self
            .obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .implementation_class_uid("2.25.137263004170236158413227351447374386281")
                    .implementation_version_name("TESSERA_QIDO"),
            )
            .expect("file meta group");
        let mut out = Vec::new();
        file.write_all(&mut out).expect("encode the instance");
        Bytes::from(out)
    }
}

pub struct StudySpec {
    pub label: &'static str,
    /// Specific Character Set ("" = absent, default repertoire).
    pub charset: &'static str,
    pub patient_name: &'static str,
    pub patient_id: &'static str,
    pub birth_date: &'static str,
    pub sex: &'static str,
    pub date: &'static str,
    pub time: &'static str,
    pub accession: &'static str,
    pub referring: &'static str,
    /// `ST` and the study's number.
    pub study_id: String,
    pub description: &'static str,
    pub institution: &'static str,
    pub series: Vec<SeriesSpec>,
}

pub struct SeriesSpec {
    pub modality: &'static str,
    /// SeriesNumber as written (IS text, e.g. "07").
    pub number: &'static str,
    pub description: &'static str,
    pub station: &'static str,
    pub body_part: &'static str,
    pub pps_date: &'static str,
    pub pps_time: &'static str,
    pub instances: Vec<InstanceSpec>,
}

pub struct InstanceSpec {
    /// InstanceNumber as written.
    pub number: String,
    pub acquisition_datetime: &'static str,
    pub frames: u32,
}

impl StudySpec {
    /// The study's number: `S05` is 5.
    fn number(&self) -> &str {
        self.label[1..].trim_start_matches('0')
    }

    pub fn uid(&self) -> String {
        format!("2.25.1000.{}", self.number())
    }

    pub fn series_uid(&self, n: usize) -> String {
        format!("2.25.2000.{}.{n}", self.number())
    }

    pub fn sop_uid(&self, n: usize, i: usize) -> String {
        format!("2.25.3000.{}.{n}.{i}", self.number())
    }

    pub fn instance_count(&self) -> usize {
        self.series.iter().map(|s| s.instances.len()).sum()
    }

    pub fn modalities(&self) -> Vec<&'static str> {
        let mut m: Vec<_> = self.series.iter().map(|s| s.modality).collect();
        m.sort();
        m.dedup();
        m
    }

    pub fn sop_classes(&self) -> Vec<&'static str> {
        let mut c: Vec<_> = self.series.iter().map(|s| sop_class(s.modality)).collect();
        c.sort();
        c.dedup();
        c
    }

    /// Every instance of the study as a Part 10 file, with its label.
    pub fn files(&self) -> Vec<(String, Bytes)> {
        let mut out = Vec::new();
        for (si, series) in self.series.iter().enumerate() {
            let n = si + 1;
            for (ii, inst) in series.instances.iter().enumerate() {
                let i = ii + 1;
                let mut p = Part10::new(sop_class(series.modality), &self.sop_uid(n, i))
                    .text_if(tags::SPECIFIC_CHARACTER_SET, VR::CS, self.charset)
                    .text(tags::STUDY_DATE, VR::DA, self.date)
                    .text(tags::STUDY_TIME, VR::TM, self.time)
                    .text(tags::ACCESSION_NUMBER, VR::SH, self.accession)
                    .text(tags::MODALITY, VR::CS, series.modality)
                    .text_if(tags::INSTITUTION_NAME, VR::LO, self.institution)
                    .text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, self.referring)
                    .text_if(tags::STATION_NAME, VR::SH, series.station)
                    .text(tags::STUDY_DESCRIPTION, VR::LO, self.description)
                    .text(tags::SERIES_DESCRIPTION, VR::LO, series.description)
                    .text(tags::PATIENT_NAME, VR::PN, self.patient_name)
                    .text(tags::PATIENT_ID, VR::LO, self.patient_id)
                    .text(tags::PATIENT_BIRTH_DATE, VR::DA, self.birth_date)
                    .text(tags::PATIENT_SEX, VR::CS, self.sex)
                    .text_if(tags::BODY_PART_EXAMINED, VR::CS, series.body_part)
                    .text(tags::STUDY_INSTANCE_UID, VR::UI, &self.uid())
                    .text(tags::SERIES_INSTANCE_UID, VR::UI, &self.series_uid(n))
                    .text(tags::STUDY_ID, VR::SH, &self.study_id)
                    .text(tags::SERIES_NUMBER, VR::IS, series.number)
                    .text(tags::INSTANCE_NUMBER, VR::IS, &inst.number)
                    .text_if(
                        tags::ACQUISITION_DATE_TIME,
                        VR::DT,
                        inst.acquisition_datetime,
                    )
                    .text_if(
                        tags::PERFORMED_PROCEDURE_STEP_START_DATE,
                        VR::DA,
                        series.pps_date,
                    )
                    .text_if(
                        tags::PERFORMED_PROCEDURE_STEP_START_TIME,
                        VR::TM,
                        series.pps_time,
                    );
                if series.modality != "SR" {
                    p = p.pixels(8, 8, inst.frames);
                }
                out.push((format!("{}.{n}.{i}", self.label), p.build()));
            }
        }
        out
    }
}

pub fn sop_class(modality: &str) -> &'static str {
    match modality {
        "CT" => CT,
        "MR" => MR,
        "US" => US,
        "SR" => SR,
        other => panic!("no SOP class for {other}"),
    }
}

/// A series of `count` instances numbered 1..=count, one frame each.
fn series(
    modality: &'static str,
    number: &'static str,
    description: &'static str,
    station: &'static str,
    body_part: &'static str,
    count: u32,
) -> SeriesSpec {
    SeriesSpec {
        modality,
        number,
        description,
        station,
        body_part,
        pps_date: "",
        pps_time: "",
        instances: (1..=count)
            .map(|i| InstanceSpec {
                number: i.to_string(),
                acquisition_datetime: "",
                frames: 1,
            })
            .collect(),
    }
}

impl SeriesSpec {
    fn pps(mut self, date: &'static str, time: &'static str) -> SeriesSpec {
        self.pps_date = date;
        self.pps_time = time;
        self
    }

    fn acquired(mut self, datetimes: &[&'static str]) -> SeriesSpec {
        for (inst, dt) in self.instances.iter_mut().zip(datetimes) {
            inst.acquisition_datetime = dt;
        }
        self
    }

    fn numbered(mut self, numbers: &[u32]) -> SeriesSpec {
        for (inst, n) in self.instances.iter_mut().zip(numbers) {
            inst.number = n.to_string();
        }
        self
    }

    fn frames(mut self, instance: usize, frames: u32) -> SeriesSpec {
        self.instances[instance - 1].frames = frames;
        self
    }
}

#[allow(clippy::too_many_arguments)]
fn study(
    label: &'static str,
    charset: &'static str,
    patient_name: &'static str,
    patient_id: &'static str,
    birth_date: &'static str,
    sex: &'static str,
    date: &'static str,
    time: &'static str,
    accession: &'static str,
    referring: &'static str,
    description: &'static str,
    institution: &'static str,
    series: Vec<SeriesSpec>,
) -> StudySpec {
    let study_id = format!("ST{}", label[1..].trim_start_matches('0'));
    StudySpec {
        label,
        charset,
        patient_name,
        patient_id,
        birth_date,
        sex,
        date,
        time,
        accession,
        referring,
        study_id,
        description,
        institution,
        series,
    }
}

/// The synthetic corpus. Expectations in qido.rs are written against exactly these values.
#[rustfmt::skip]
pub fn corpus() -> Vec<StudySpec> {
    const L1: &str = "ISO_IR 100";
    const U8: &str = "ISO_IR 192";
    vec![
        study(
            "S01", L1, "DOE^JOHN", "PID-001", "19700101", "M", "20200115", "093015.5", "ACC1",
            "Welby^Marcus", "CT Chest", "General Hospital",
            vec![
                series("CT", "1", "Axial 5mm", "CTSTATION1", "CHEST", 4)
                    .pps("20200115", "093100")
                    .acquired(&["20200115093101", "20200115093102", "20200115093103", "20200115093104"]),
                series("SR", "2", "Report", "SRSERVER", "", 1).pps("20200115", "101000"),
            ],
        ),
        study(
            "S02", U8, "Doe^Jane", "PID-002", "19751231", "F", "20200620", "140000", "acc1", "",
            "MR Brain", "General Hospital",
            vec![
                series("MR", "1", "T1 Axial", "MRI-EAST", "HEAD", 3).pps("20200620", "140500"),
                series("MR", "2", "T2 Axial", "MRI-EAST", "HEAD", 2).pps("20200620", "141500"),
            ],
        ),
        study(
            "S03", U8, "García^José", "A%B", "19800229", "M", "20201231", "235959", "ACC2", "",
            "US Abdomen", "Clinique Saint-Jean",
            vec![
                series("US", "1", "Liver", "US-NORTH", "ABDOMEN", 3).pps("20201231", "235959"),
                series("US", "2", "Kidney", "US-NORTH", "ABDOMEN", 2),
            ],
        ),
        study(
            "S04", L1, "Müller^Hans", "A_B", "19650505", "M", "20210101", "000000", "acc2", "",
            "chest and brain", "Klinikum Mitte",
            vec![
                series("CT", "1", "Thorax", "CTSTATION2", "CHEST", 2).pps("20210101", "001000"),
                series("MR", "2", "Head", "MRI-WEST", "HEAD", 2),
            ],
        ),
        study(
            "S05", L1, "Harrison^Ford", "AxB", "19420713", "M", "20190101", "120000", "X-5",
            "WELBY^M", "Trauma Chest/Brain", "General Hospital",
            vec![
                series("CT", "1", "Axial", "CTSTATION1", "CHEST", 3),
                series("MR", "2", "Brain", "MRI-EAST", "HEAD", 1),
                series("US", "3", "FAST", "US-NORTH", "ABDOMEN", 1),
            ],
        ),
        study(
            "S06", "", "George^Harrison=dzsordzs^herizon", "GH-1943", "19430225", "M", "20180704",
            "0800", "X-6", "", "MR Knee", "",
            vec![
                series("MR", "1", "Sagittal", "MRI-WEST", "KNEE", 2),
                series("MR", "07", "Coronal", "MRI-WEST", "KNEE", 1),
            ],
        ),
        study(
            "S07", L1, "Herington^Ann", "PID-007", "19991231", "F", "20200301", "101500", "ACC10",
            "House^Gregory", "CT Chest follow-up", "General Hospital",
            vec![
                series("CT", "1", "Axial", "CTSTATION2", "CHEST", 3)
                    .pps("20200301", "101600")
                    .acquired(&["20200301101601.5", "20200301101602", "20200301101603"]),
                series("US", "2", "Doppler", "US-SOUTH", "", 2),
            ],
        ),
        study(
            "S08", L1, "Smith^John", "pid-008", "20000101", "M", "20220510", "083000", "X-8", "",
            "Reports", "",
            vec![
                series("SR", "1", "Report", "SRSERVER", "", 1),
                series("SR", "2", "Addendum", "SRSERVER", "", 1),
            ],
        ),
        study(
            "S09", "", "Johnson^Mary", "PID-009", "19790101", "F", "20200101", "090000", "X-9", "",
            "MR Spine", "General Hospital",
            vec![
                series("MR", "1", "Sagittal T2", "MRI-EAST", "SPINE", 4)
                    .pps("20200101", "090500")
                    .frames(4, 2),
                series("SR", "2", "Report", "SRSERVER", "", 1),
            ],
        ),
        study(
            "S10", "", "O'Brien^Patrick", "PID-010", "19881010", "M", "20201231", "1200", "X-10",
            "", "CT Abdomen", "Clinique Saint-Jean",
            vec![
                series("CT", "1", "Axial", "CTSTATION1", "ABDOMEN", 5).numbered(&[10, 20, 30, 40, 50]),
                series("CT", "102", "Coronal MPR", "CTSTATION1", "ABDOMEN", 2),
            ],
        ),
        study(
            "S11", "", "Zhang^Wei", "PID-011", "", "O", "", "", "ACC3", "", "US Neck", "",
            vec![
                series("US", "1", "Thyroid", "US-SOUTH", "NECK", 2),
                series("SR", "2", "Report", "SRSERVER", "", 1),
            ],
        ),
        study(
            "S12", L1, "Doe^John", "PID-012", "19700101", "M", "20200115", "170000", "X-12", "",
            "CT Head", "Klinikum Mitte",
            vec![
                series("CT", "1", "Axial", "CTSTATION2", "HEAD", 2)
                    .acquired(&["20200115170100", "20200115170200"]),
                series("MR", "2", "DWI", "MRI-WEST", "HEAD", 1),
            ],
        ),
    ]
}

/// Every synthetic instance as a Part 10 file.
pub fn synthetic_files() -> Vec<Bytes> {
    corpus()
        .iter()
        .flat_map(|s| s.files().into_iter().map(|(_, b)| b))
        .collect()
}

/// The real files of [`REAL_FILES`], as stored.
pub fn real_files() -> Vec<Bytes> {
    REAL_FILES
        .iter()
        .map(|n| read_testdata(&format!("{n}.dcm")))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Study,
    Series,
    Instance,
}

impl Level {
    /// The UID attribute that identifies a result at this level.
    pub fn uid_tag(self) -> &'static str {
        match self {
            Level::Study => "0020000D",
            Level::Series => "0020000E",
            Level::Instance => "00080018",
        }
    }

    /// The level a QIDO path searches (the last path segment before any query).
    pub fn of(path_and_query: &str) -> Level {
        let path = path_and_query.split('?').next().unwrap();
        if path.ends_with("/studies") {
            Level::Study
        } else if path.ends_with("/series") {
            Level::Series
        } else if path.ends_with("/instances") {
            Level::Instance
        } else {
            panic!("not a QIDO path: {path_and_query}")
        }
    }
}

/// Label <-> UID at each level, for the whole corpus (synthetic and real).
pub struct Labels {
    by_label: BTreeMap<(Level, String), String>,
    by_uid: BTreeMap<(Level, String), String>,
}

impl Labels {
    pub fn load() -> Labels {
        let mut labels = Labels {
            by_label: BTreeMap::new(),
            by_uid: BTreeMap::new(),
        };
        for study in corpus() {
            labels.add(Level::Study, study.label.to_string(), study.uid());
            for (si, series) in study.series.iter().enumerate() {
                let n = si + 1;
                let se = format!("{}.{n}", study.label);
                labels.add(Level::Series, se.clone(), study.series_uid(n));
                for i in 1..=series.instances.len() {
                    labels.add(Level::Instance, format!("{se}.{i}"), study.sop_uid(n, i));
                }
            }
        }
        let expected = expected();
        for name in REAL_FILES {
            let e = &expected[format!("{name}.dcm")];
            let uid = |key: &str| e[key].as_str().unwrap().to_string();
            labels.add(Level::Study, name.to_string(), uid("study_instance_uid"));
            labels.add(Level::Series, name.to_string(), uid("series_instance_uid"));
            labels.add(Level::Instance, name.to_string(), uid("sop_instance_uid"));
        }
        labels
    }

    fn add(&mut self, level: Level, label: String, uid: String) {
        assert!(self
            .by_uid
            .insert((level, uid.clone()), label.clone())
            .is_none());
        assert!(self.by_label.insert((level, label), uid).is_none());
    }

    pub fn uid(&self, level: Level, label: &str) -> &str {
        self.by_label
            .get(&(level, label.to_string()))
            .unwrap_or_else(|| panic!("no {level:?} labelled {label}"))
    }

    pub fn study(&self, label: &str) -> &str {
        self.uid(Level::Study, label)
    }

    pub fn series(&self, label: &str) -> &str {
        self.uid(Level::Series, label)
    }

    pub fn instance(&self, label: &str) -> &str {
        self.uid(Level::Instance, label)
    }

    /// The label of a UID, or the UID itself in brackets when it is not in the corpus.
    pub fn label(&self, level: Level, uid: &str) -> String {
        self.by_uid
            .get(&(level, uid.to_string()))
            .cloned()
            .unwrap_or_else(|| format!("<{uid}>"))
    }

    /// Every label at a level.
    pub fn all(&self, level: Level) -> Vec<String> {
        self.by_label
            .keys()
            .filter(|(l, _)| *l == level)
            .map(|(_, label)| label.clone())
            .collect()
    }

    /// Replace `{label}` placeholders by UIDs: `S05` is a study, `S05.2` a series, `S05.2.1`
    /// an instance; a real file's stem is its study, `{series:stem}` and `{sop:stem}` its
    /// series and instance.
    pub fn fill(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').expect("unclosed placeholder") + start;
            let placeholder = &rest[start + 1..end];
            let (level, label) = match placeholder.split_once(':') {
                Some(("series", label)) => (Level::Series, label),
                Some(("sop", label)) => (Level::Instance, label),
                Some(_) => panic!("unknown placeholder {placeholder}"),
                None => match placeholder.matches('.').count() {
                    0 => (Level::Study, placeholder),
                    1 => (Level::Series, placeholder),
                    _ => (Level::Instance, placeholder),
                },
            };
            out.push_str(&rest[..start]);
            out.push_str(self.uid(level, label));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}
