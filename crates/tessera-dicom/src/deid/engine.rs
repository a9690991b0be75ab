//! One Part 10 file in, its de-identified Part 10 file out.

use dicom_core::header::Header;
use dicom_core::value::PrimitiveValue;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::mem::InMemElement;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use super::clean::Scrubber;
use super::error::DeidError;
use super::key::Secret;
use super::options::{Dates, Options};
use super::pixels::{self, Geometry, PixelPolicy};
use super::private::SafePrivate;
use super::pseudonym::{self, PatientKey};
use super::table::Table;
use super::uid::{UidMap, UidMapping};
use super::walk::Walker;
use super::{dates, method, output};
use crate::layout::DatasetEncoding;

/// What to de-identify with: the options, the project's secret, and the pixel policy.
#[derive(Debug, Clone)]
pub struct Profile {
    pub options: Options,
    pub secret: Secret,
    pub pixels: PixelPolicy,
}

/// A de-identified instance and what the mapping tables of a project need to know of it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The de-identified Part 10 file.
    pub part10: Vec<u8>,
    /// Every UID replaced, original to replacement, in the order first met.
    pub uids: Vec<UidMapping>,
    /// The original Patient ID (trimmed; empty if there was none) and its pseudonym.
    pub patient_id: (String, String),
    /// The days every date was moved by, under the Modified Dates option.
    pub date_shift_days: Option<i32>,
    /// Whether a mask was applied to the pixels (Clean Pixel Data).
    pub pixels_masked: bool,
    /// The de-identified instance's SOP Instance UID.
    pub sop_instance_uid: String,
}

/// Applies one profile to instance after instance.
#[derive(Debug, Clone)]
pub struct Deidentifier {
    profile: Profile,
    table: &'static Table,
    safe_private: &'static SafePrivate,
}

impl Deidentifier {
    pub fn new(profile: Profile) -> Deidentifier {
        Deidentifier {
            profile,
            table: Table::embedded(),
            safe_private: SafePrivate::embedded(),
        }
    }

    /// The edition of PS3.15 whose Table E.1-1 is applied.
    pub fn edition(&self) -> &str {
        self.table.edition()
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// De-identify one Part 10 file.
    pub fn deidentify(&self, bytes: &[u8]) -> Result<Outcome, DeidError> {
        let parsed = crate::parsed::parse(bytes)?;
        let transfer_syntax = parsed.layout.transfer_syntax.clone();
        let deflated = parsed.layout.encoding == DatasetEncoding::Deflated;
        let big_endian = parsed.layout.encoding == DatasetEncoding::ExplicitBig;
        let has_pixels = parsed.pixel_data_vr.is_some();
        let meta_class = parsed
            .object
            .meta()
            .media_storage_sop_class_uid()
            .to_string();
        let meta_instance = parsed
            .object
            .meta()
            .media_storage_sop_instance_uid()
            .to_string();
        let raw = output::raw_pixel_data(&parsed.layout, bytes)?;
        let object = parsed.object.into_inner();

        let options = &self.profile.options;
        let secret = &self.profile.secret;
        let mask = self.profile.pixels.check(&object, has_pixels)?;
        let geometry = match mask {
            Some(_) if deflated || raw.as_ref().is_some_and(|r| r.native_value.is_none()) => {
                return Err(DeidError::MaskNeedsNativePixels { transfer_syntax });
            }
            Some(_) => Some(Geometry::of(&object, big_endian)?),
            None => None,
        };

        let text = |tag| {
            object
                .get(tag)
                .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
        };
        let original_id = text(tags::PATIENT_ID).unwrap_or_default();
        let patient = PatientKey::new(Some(&original_id), text(tags::PATIENT_NAME).as_deref());
        let date_offset = dates::offset_days(secret, &patient);
        let mut walker = Walker {
            table: self.table,
            safe_private: self.safe_private,
            options,
            secret,
            scrubber: Scrubber::from_dataset(&object),
            date_offset,
            uids: UidMap::default(),
        };
        let mut out = walker.top(object, &patient);
        method::stamp(&mut out, options, self.table.edition(), mask.is_some());
        if mask.is_some() {
            out.put(InMemElement::new(
                tags::BURNED_IN_ANNOTATION,
                VR::CS,
                PrimitiveValue::from("NO"),
            ));
        }

        let mut uids = walker.uids;
        let uid_of = |object: &InMemDicomObject, tag| {
            object
                .get(tag)
                .and_then(|e| e.to_str().ok())
                .map(|s| crate::uid::trim_uid(&s).to_string())
                .filter(|s| !s.is_empty())
        };
        let sop_class = uid_of(&out, tags::SOP_CLASS_UID).unwrap_or(meta_class);
        let sop_instance = match uid_of(&out, tags::SOP_INSTANCE_UID) {
            Some(uid) => uid,
            None if options.retain_uids => meta_instance,
            None => uids.replace(secret, &meta_instance),
        };

        let part10 = if deflated {
            let mut out = out;
            if let Some(pixel_data) = deflated_pixel_data(bytes, parsed.layout.has_preamble)? {
                out.put(pixel_data);
            }
            output::part10(&sop_class, &sop_instance, &transfer_syntax, &out, None)?
        } else {
            let mut pixel_element = raw.as_ref().map(|r| r.element.to_vec());
            if let (Some(mask), Some(geometry), Some(element), Some(range)) = (
                mask,
                geometry.as_ref(),
                pixel_element.as_mut(),
                raw.as_ref().and_then(|r| r.native_value.clone()),
            ) {
                pixels::apply_mask(&mut element[range], geometry, mask)?;
            }
            output::part10(
                &sop_class,
                &sop_instance,
                &transfer_syntax,
                &out,
                pixel_element.as_deref(),
            )?
        };
        Ok(Outcome {
            part10,
            uids: uids.into_mappings(),
            patient_id: (original_id, pseudonym::patient_id(secret, &patient)),
            date_shift_days: (options.dates == Dates::RetainModified).then_some(date_offset),
            pixels_masked: mask.is_some(),
            sop_instance_uid: sop_instance,
        })
    }
}

/// The Pixel Data of a deflated file, read again whole: the layout walk cannot see into a
/// deflated data set, so dicom-rs carries the element (its value unchanged) into the output.
fn deflated_pixel_data(
    bytes: &[u8],
    has_preamble: bool,
) -> Result<Option<InMemElement>, DeidError> {
    let start = if has_preamble { 128 } else { 0 };
    let mut object = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(&bytes[start..])
        .map_err(|err| {
            DeidError::Unreadable(crate::error::DicomError::Unreadable(err.to_string()))
        })?;
    Ok(object
        .take_element(tags::PIXEL_DATA)
        .ok()
        .filter(|e| e.tag() == tags::PIXEL_DATA))
}
