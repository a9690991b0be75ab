//! The attributes QIDO-RS matches on and returns, per level, and where the index keeps them.
//! PS3.18 Table 10.6.1-5 (required matching) and 10.6.3-3..5 (required return attributes).

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::error::QueryError;

/// Query / information model level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Study,
    Series,
    Instance,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Study => "study",
            Level::Series => "series",
            Level::Instance => "instance",
        }
    }

    pub fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "study" | "studies" => Some(Level::Study),
            "series" => Some(Level::Series),
            "instance" | "instances" | "image" => Some(Level::Instance),
            _ => None,
        }
    }
}

/// How an attribute is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exact or wildcard text (case-sensitive); CS attributes also accept value lists.
    Text,
    /// Exact UID or UID list.
    Uid,
    /// DA: exact or range.
    Date,
    /// TM: exact or range, compared in the `*_norm` column.
    Time,
    /// DT: exact or range, compared normalised (extra query attributes).
    DateTime,
    /// PN: case-insensitive literal or fuzzy, in the `pn_{name}_*` columns.
    PersonName(&'static str),
    /// IS / US: numeric equality.
    Integer,
    /// ModalitiesInStudy: any series of the study has one of the values.
    Modalities,
    /// Counts and other computed values: returned, not matched.
    Computed,
    /// Returned only (no matching).
    ReturnOnly,
}

/// One attribute the index holds in a column.
#[derive(Debug)]
pub struct Attribute {
    pub tag: Tag,
    pub keyword: &'static str,
    pub vr: &'static str,
    pub level: Level,
    pub column: &'static str,
    pub kind: Kind,
}

impl Attribute {
    pub fn matchable(&self) -> bool {
        !matches!(self.kind, Kind::Computed | Kind::ReturnOnly)
    }

    /// Whether the value is an integer column.
    pub fn is_integer(&self) -> bool {
        matches!(self.kind, Kind::Integer | Kind::Computed)
    }
}

macro_rules! attributes {
    ($(($g:literal, $e:literal, $kw:literal, $vr:literal, $level:ident, $col:literal, $kind:expr),)*) => {
        /// Every attribute with a column, in tag order per level.
        pub static ATTRIBUTES: &[Attribute] = &[$(Attribute {
            tag: Tag($g, $e),
            keyword: $kw,
            vr: $vr,
            level: Level::$level,
            column: $col,
            kind: $kind,
        },)*];
    };
}

attributes! {
    (0x0008, 0x0005, "SpecificCharacterSet", "CS", Study, "specific_character_set", Kind::ReturnOnly),
    (0x0008, 0x0020, "StudyDate", "DA", Study, "study_date", Kind::Date),
    (0x0008, 0x0030, "StudyTime", "TM", Study, "study_time", Kind::Time),
    (0x0008, 0x0050, "AccessionNumber", "SH", Study, "accession_number", Kind::Text),
    (0x0008, 0x0061, "ModalitiesInStudy", "CS", Study, "modalities_in_study", Kind::Modalities),
    (0x0008, 0x0062, "SOPClassesInStudy", "UI", Study, "sop_classes_in_study", Kind::ReturnOnly),
    (0x0008, 0x0090, "ReferringPhysicianName", "PN", Study, "referring_physician_name", Kind::PersonName("referring")),
    (0x0008, 0x0201, "TimezoneOffsetFromUTC", "SH", Study, "timezone_offset", Kind::Text),
    (0x0008, 0x1030, "StudyDescription", "LO", Study, "study_description", Kind::Text),
    (0x0010, 0x0010, "PatientName", "PN", Study, "patient_name", Kind::PersonName("patient")),
    (0x0010, 0x0020, "PatientID", "LO", Study, "patient_id", Kind::Text),
    (0x0010, 0x0021, "IssuerOfPatientID", "LO", Study, "issuer_of_patient_id", Kind::Text),
    (0x0010, 0x0030, "PatientBirthDate", "DA", Study, "patient_birth_date", Kind::Date),
    (0x0010, 0x0040, "PatientSex", "CS", Study, "patient_sex", Kind::Text),
    (0x0020, 0x000D, "StudyInstanceUID", "UI", Study, "study_uid", Kind::Uid),
    (0x0020, 0x0010, "StudyID", "SH", Study, "study_id", Kind::Text),
    (0x0020, 0x1206, "NumberOfStudyRelatedSeries", "IS", Study, "num_series", Kind::Computed),
    (0x0020, 0x1208, "NumberOfStudyRelatedInstances", "IS", Study, "num_instances", Kind::Computed),
    (0x0008, 0x0021, "SeriesDate", "DA", Series, "series_date", Kind::Date),
    (0x0008, 0x0031, "SeriesTime", "TM", Series, "series_time", Kind::ReturnOnly),
    (0x0008, 0x0060, "Modality", "CS", Series, "modality", Kind::Text),
    (0x0008, 0x103E, "SeriesDescription", "LO", Series, "series_description", Kind::Text),
    (0x0018, 0x0015, "BodyPartExamined", "CS", Series, "body_part_examined", Kind::Text),
    (0x0020, 0x000E, "SeriesInstanceUID", "UI", Series, "series_uid", Kind::Uid),
    (0x0020, 0x0011, "SeriesNumber", "IS", Series, "series_number", Kind::Integer),
    (0x0020, 0x0060, "Laterality", "CS", Series, "laterality", Kind::Text),
    (0x0020, 0x1209, "NumberOfSeriesRelatedInstances", "IS", Series, "num_instances", Kind::Computed),
    (0x0040, 0x0244, "PerformedProcedureStepStartDate", "DA", Series, "pps_start_date", Kind::Date),
    (0x0040, 0x0245, "PerformedProcedureStepStartTime", "TM", Series, "pps_start_time", Kind::Time),
    (0x0008, 0x0016, "SOPClassUID", "UI", Instance, "sop_class_uid", Kind::Uid),
    (0x0008, 0x0018, "SOPInstanceUID", "UI", Instance, "sop_uid", Kind::Uid),
    (0x0008, 0x3002, "AvailableTransferSyntaxUID", "UI", Instance, "transfer_syntax_uid", Kind::ReturnOnly),
    (0x0020, 0x0013, "InstanceNumber", "IS", Instance, "instance_number", Kind::Integer),
    (0x0028, 0x0008, "NumberOfFrames", "IS", Instance, "number_of_frames", Kind::Integer),
    (0x0028, 0x0010, "Rows", "US", Instance, "num_rows", Kind::Integer),
    (0x0028, 0x0011, "Columns", "US", Instance, "num_columns", Kind::Integer),
    (0x0028, 0x0100, "BitsAllocated", "US", Instance, "bits_allocated", Kind::Integer),
}

/// The attribute with a column for this tag, if any.
pub fn by_tag(tag: Tag) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.tag == tag)
}

/// Attributes returned by default at each level (PS3.18 Tables 10.6.3-3 to 10.6.3-5).
pub fn defaults(level: Level) -> &'static [&'static str] {
    match level {
        Level::Study => &[
            "SpecificCharacterSet",
            "StudyDate",
            "StudyTime",
            "AccessionNumber",
            "ModalitiesInStudy",
            "SOPClassesInStudy",
            "ReferringPhysicianName",
            "TimezoneOffsetFromUTC",
            "StudyDescription",
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "StudyInstanceUID",
            "StudyID",
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
        ],
        Level::Series => &[
            "Modality",
            "SeriesDescription",
            "SeriesNumber",
            "SeriesInstanceUID",
            "NumberOfSeriesRelatedInstances",
            "PerformedProcedureStepStartDate",
            "PerformedProcedureStepStartTime",
            "BodyPartExamined",
            "Laterality",
            "SeriesDate",
            "SeriesTime",
        ],
        Level::Instance => &[
            "SOPClassUID",
            "SOPInstanceUID",
            "AvailableTransferSyntaxUID",
            "InstanceNumber",
            "Rows",
            "Columns",
            "BitsAllocated",
            "NumberOfFrames",
        ],
    }
}

/// The attribute with a column for this keyword, if any.
pub fn by_keyword(keyword: &str) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.keyword == keyword)
}

/// Top-level attributes that belong to the patient and study levels when a study's or
/// series' stored metadata answers `includefield` (the Patient, General Study and Patient
/// Study modules, PS3.3 C.7.1.1, C.7.2.1, C.7.2.2).
pub fn belongs_to(tag: Tag, level: Level) -> bool {
    let study = tag.group() == 0x0010
        || tag.group() == 0x0032
        || matches!(
            (tag.group(), tag.element()),
            (
                0x0008,
                0x0020
                    | 0x0030
                    | 0x0050
                    | 0x0051
                    | 0x0056
                    | 0x0061
                    | 0x0062
                    | 0x0090
                    | 0x0096
                    | 0x009C
                    | 0x0201
                    | 0x1030
                    | 0x1032
                    | 0x1048
                    | 0x1049
                    | 0x1060
                    | 0x1062
                    | 0x1080
                    | 0x1084
                    | 0x1110
            ) | (0x0020, 0x000D | 0x0010)
                | (0x0040, 0x1012)
                | (
                    0x0038,
                    0x0010 | 0x0014 | 0x0060 | 0x0062 | 0x0064 | 0x0500 | 0x0502
                )
                | (0x0012, _)
        );
    let series = matches!(
        (tag.group(), tag.element()),
        (
            0x0008,
            0x0021
                | 0x0031
                | 0x0060
                | 0x0064
                | 0x0068
                | 0x0070
                | 0x0080
                | 0x0081
                | 0x1010
                | 0x103E
                | 0x103F
                | 0x1040
                | 0x1050
                | 0x1070
                | 0x1090
                | 0x1111
        ) | (0x0018, 0x0015 | 0x1000 | 0x1020 | 0x1030 | 0x5100)
            | (0x0020, 0x000E | 0x0011 | 0x0052 | 0x0060 | 0x1040)
            | (
                0x0040,
                0x0244 | 0x0245 | 0x0250 | 0x0251 | 0x0253 | 0x0254 | 0x0260 | 0x0275 | 0x0280
            )
    );
    match level {
        Level::Study => study,
        Level::Series => series,
        Level::Instance => !study && !series,
    }
}

/// Resolve a parameter name (keyword or 8 hex digits) to a tag and its dictionary VR.
pub fn resolve_attribute(name: &str) -> Result<(Tag, Option<VR>), QueryError> {
    let entry = if name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        let number =
            u32::from_str_radix(name, 16).map_err(|_| QueryError::new(name, "not a tag"))?;
        let tag = Tag((number >> 16) as u16, (number & 0xFFFF) as u16);
        match StandardDataDictionary.by_tag(tag) {
            Some(entry) => entry,
            None => return Ok((tag, None)),
        }
    } else {
        StandardDataDictionary.by_name(name).ok_or_else(|| {
            QueryError::new(
                name,
                "unknown attribute (use a DICOM keyword or an 8-digit hexadecimal tag)",
            )
        })?
    };
    let vr = match entry.vr() {
        VirtualVr::Exact(vr) => Some(vr),
        _ => None,
    };
    Ok((entry.tag(), vr))
}
