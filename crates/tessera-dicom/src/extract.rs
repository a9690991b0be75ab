//! Parse one Part 10 file and pull out what the index needs: the typed identifiers, the
//! attributes QIDO matches on, and the byte ranges of every frame.
//!
//! Text is decoded from the raw bytes with [`CharacterSets`] so that ISO 2022 code extensions
//! (Japanese, Korean, Chinese) come out as correct UTF-8; dicom-rs alone honours only the
//! first Specific Character Set value.

use dicom_dictionary_std::tags;

use crate::error::DicomError;
use crate::layout;
pub use crate::parsed::{parse, parse_with, ParsedFile};
use crate::uid::{SeriesUid, SopClassUid, SopInstanceUid, StudyUid, TransferSyntaxUid};

/// Study-level attributes (patient attributes live with the study).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyAttributes {
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    pub issuer_of_patient_id: Option<String>,
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    pub study_date: Option<String>,
    pub study_time: Option<String>,
    pub timezone_offset: Option<String>,
    pub accession_number: Option<String>,
    pub study_id: Option<String>,
    pub study_description: Option<String>,
    pub referring_physician_name: Option<String>,
}

/// Series-level attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesAttributes {
    pub modality: Option<String>,
    pub series_number: Option<i64>,
    pub series_description: Option<String>,
    pub series_date: Option<String>,
    pub series_time: Option<String>,
    pub performed_procedure_step_start_date: Option<String>,
    pub performed_procedure_step_start_time: Option<String>,
    pub body_part_examined: Option<String>,
    pub laterality: Option<String>,
}

/// Instance-level attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceAttributes {
    pub instance_number: Option<i64>,
    pub rows: Option<i64>,
    pub columns: Option<i64>,
    pub bits_allocated: Option<i64>,
    pub samples_per_pixel: Option<i64>,
    pub number_of_frames: Option<i64>,
    pub photometric_interpretation: Option<String>,
}

/// Byte ranges `(offset, length)` in the stored file, per frame.
pub type FrameRanges = Vec<Vec<(u64, u64)>>;

/// Everything ingest learns from one file.
#[derive(Debug, Clone)]
pub struct ExtractedInstance {
    pub study_uid: StudyUid,
    pub series_uid: SeriesUid,
    pub sop_uid: SopInstanceUid,
    pub sop_class: SopClassUid,
    pub transfer_syntax: TransferSyntaxUid,
    pub specific_character_set: Option<String>,
    pub study: StudyAttributes,
    pub series: SeriesAttributes,
    pub instance: InstanceAttributes,
    /// None when frames cannot be addressed by byte range (deflated data set, bit-packed
    /// frames, fragments that do not map onto frames); WADO then decodes the whole object.
    pub frames: Option<FrameRanges>,
    /// DICOM JSON of the data set (compact text), bulk data replaced by relative
    /// BulkDataURIs. Kept as text: a large STOW request holds thousands of these.
    pub metadata: String,
}

impl ParsedFile<'_> {
    /// Validate the identifiers and collect the indexed attributes and frame ranges.
    pub fn extract(&self) -> Result<ExtractedInstance, DicomError> {
        let study_uid = StudyUid::parse(
            &self
                .uid(tags::STUDY_INSTANCE_UID)
                .ok_or(DicomError::MissingAttribute(StudyUid::KIND))?,
        )?;
        let series_uid = SeriesUid::parse(
            &self
                .uid(tags::SERIES_INSTANCE_UID)
                .ok_or(DicomError::MissingAttribute(SeriesUid::KIND))?,
        )?;
        let sop_uid = SopInstanceUid::parse(
            &self
                .uid(tags::SOP_INSTANCE_UID)
                .ok_or(DicomError::MissingAttribute(SopInstanceUid::KIND))?,
        )?;
        let sop_class = SopClassUid::parse(
            &self
                .uid(tags::SOP_CLASS_UID)
                .ok_or(DicomError::MissingAttribute(SopClassUid::KIND))?,
        )?;
        // PS3.10 wants MediaStorageSOPInstanceUID to equal SOPInstanceUID; real files break
        // that rule. The data set's UID is the instance's identity, as in other archives.
        let meta_sop = crate::uid::trim_uid(&self.object.meta().media_storage_sop_instance_uid);
        if !meta_sop.is_empty() && meta_sop != sop_uid.as_str() {
            tracing::debug!(
                "MediaStorageSOPInstanceUID differs from SOPInstanceUID; using the latter"
            );
        }
        let transfer_syntax = TransferSyntaxUid::parse(&self.layout.transfer_syntax)?;
        let instance = InstanceAttributes {
            instance_number: self.int(tags::INSTANCE_NUMBER),
            rows: self.int(tags::ROWS),
            columns: self.int(tags::COLUMNS),
            bits_allocated: self.int(tags::BITS_ALLOCATED),
            samples_per_pixel: self.int(tags::SAMPLES_PER_PIXEL),
            number_of_frames: self.int(tags::NUMBER_OF_FRAMES),
            photometric_interpretation: self.text(tags::PHOTOMETRIC_INTERPRETATION, *b"CS"),
        };
        let frames = self.frame_ranges(&instance);
        let metadata = crate::json::instance_metadata(self)
            .and_then(|json| serde_json::to_string(&json))
            .map_err(|err| DicomError::Unreadable(format!("cannot build DICOM JSON: {err}")))?;
        Ok(ExtractedInstance {
            study_uid,
            series_uid,
            sop_uid,
            sop_class,
            transfer_syntax,
            specific_character_set: self.text(tags::SPECIFIC_CHARACTER_SET, *b"CS"),
            study: StudyAttributes {
                patient_name: self.text(tags::PATIENT_NAME, *b"PN"),
                patient_id: self.text(tags::PATIENT_ID, *b"LO"),
                issuer_of_patient_id: self.text(tags::ISSUER_OF_PATIENT_ID, *b"LO"),
                patient_birth_date: self.text(tags::PATIENT_BIRTH_DATE, *b"DA"),
                patient_sex: self.text(tags::PATIENT_SEX, *b"CS"),
                study_date: self.text(tags::STUDY_DATE, *b"DA"),
                study_time: self.text(tags::STUDY_TIME, *b"TM"),
                timezone_offset: self.text(tags::TIMEZONE_OFFSET_FROM_UTC, *b"SH"),
                accession_number: self.text(tags::ACCESSION_NUMBER, *b"SH"),
                study_id: self.text(tags::STUDY_ID, *b"SH"),
                study_description: self.text(tags::STUDY_DESCRIPTION, *b"LO"),
                referring_physician_name: self.text(tags::REFERRING_PHYSICIAN_NAME, *b"PN"),
            },
            series: SeriesAttributes {
                modality: self.text(tags::MODALITY, *b"CS"),
                series_number: self.int(tags::SERIES_NUMBER),
                series_description: self.text(tags::SERIES_DESCRIPTION, *b"LO"),
                series_date: self.text(tags::SERIES_DATE, *b"DA"),
                series_time: self.text(tags::SERIES_TIME, *b"TM"),
                performed_procedure_step_start_date: self
                    .text(tags::PERFORMED_PROCEDURE_STEP_START_DATE, *b"DA"),
                performed_procedure_step_start_time: self
                    .text(tags::PERFORMED_PROCEDURE_STEP_START_TIME, *b"TM"),
                body_part_examined: self.text(tags::BODY_PART_EXAMINED, *b"CS"),
                laterality: self.text(tags::LATERALITY, *b"CS"),
            },
            instance,
            frames,
            metadata,
        })
    }

    fn layout_is_encapsulated(&self) -> bool {
        matches!(
            self.layout.pixel_data,
            Some(layout::PixelDataLayout::Encapsulated { .. })
        )
    }

    fn frame_ranges(&self, instance: &InstanceAttributes) -> Option<FrameRanges> {
        self.layout.pixel_data.as_ref()?;
        let frames = u32::try_from(instance.number_of_frames.unwrap_or(1).max(1)).ok()?;
        // Native YBR_FULL_422 stores two samples per pixel (PS3.3 C.7.6.3.1.2).
        let samples = match instance.photometric_interpretation.as_deref() {
            Some("YBR_FULL_422") if !self.layout_is_encapsulated() => 2,
            _ => instance.samples_per_pixel.unwrap_or(1),
        };
        // Attribute values a file states: a product that overflows describes no frame size.
        let bits = instance
            .rows?
            .checked_mul(instance.columns?)?
            .checked_mul(samples)?
            .checked_mul(instance.bits_allocated?)?;
        let native_len = (bits > 0 && bits % 8 == 0).then_some((bits / 8) as u64);
        match layout::frame_ranges(&self.layout, self.bytes, frames, native_len) {
            Ok(ranges) => Some(ranges),
            Err(err) => {
                tracing::warn!(%err, "frames are not addressable by byte range");
                None
            }
        }
    }
}

#[cfg(test)]
mod proptests;
