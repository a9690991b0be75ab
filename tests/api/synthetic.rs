//! Synthetic instances the tests build themselves, where no small real file has the shape a
//! test needs (a large multi-frame instance, for the staging path).

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

/// A native 16-bit MONOCHROME2 multi-frame instance.
pub struct MultiFrame {
    pub file: Bytes,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    side: usize,
}

impl MultiFrame {
    /// `size` x `size` pixels, `frames` frames, each pixel a function of its place and frame
    /// (so every frame differs); the UIDs end in `n`.
    pub fn new(n: u32, size: u16, frames: u32) -> MultiFrame {
        MultiFrame::in_series(n, size, frames, &format!("2.25.7070.2.{n}"))
    }

    /// The same instance as [`MultiFrame::new`] filed in series `series_uid`.
    pub fn in_series(n: u32, size: u16, frames: u32, series_uid: &str) -> MultiFrame {
        let study_uid = format!("2.25.7070.1.{n}");
        let series_uid = series_uid.to_string();
        let sop_uid = format!("2.25.7070.3.{n}");
        let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let text = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let mut object = InMemDicomObject::from_element_iter([
            text(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
            ),
            text(tags::SOP_INSTANCE_UID, VR::UI, &sop_uid),
            text(tags::PATIENT_NAME, VR::PN, "Synthetic^Multiframe"),
            text(tags::PATIENT_ID, VR::LO, "SYNTH-MF"),
            text(tags::STUDY_INSTANCE_UID, VR::UI, &study_uid),
            text(tags::MODALITY, VR::CS, "OT"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
            text(tags::INSTANCE_NUMBER, VR::IS, "1"),
            text(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
            us(tags::SAMPLES_PER_PIXEL, 1),
            text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            us(tags::ROWS, size),
            us(tags::COLUMNS, size),
            us(tags::BITS_ALLOCATED, 16),
            us(tags::BITS_STORED, 12),
            us(tags::HIGH_BIT, 11),
            us(tags::PIXEL_REPRESENTATION, 0),
        ]);
        let side = usize::from(size);
        let pixels: Vec<u16> = (0..frames as usize)
            .flat_map(|frame| (0..side * side).map(move |i| pixel(frame, i / side, i % side)))
            .collect();
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(pixels.into()),
        ));
        let file = object
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(
                        uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
                    )
                    .media_storage_sop_instance_uid(sop_uid.as_str()),
            )
            .expect("file meta group");
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).expect("encode the instance");
        MultiFrame {
            file: Bytes::from(bytes),
            study_uid,
            series_uid,
            sop_uid,
            side,
        }
    }

    /// Frame `number` (1-based) as a native little endian frame, computed from the pixel
    /// function (not read back from the file).
    pub fn frame(&self, number: u32) -> Bytes {
        let frame = number as usize - 1;
        let side = self.side;
        (0..side * side)
            .flat_map(|i| pixel(frame, i / side, i % side).to_le_bytes())
            .collect::<Vec<u8>>()
            .into()
    }
}

/// The 12-bit value of one pixel: every frame differs from every other.
fn pixel(frame: usize, row: usize, col: usize) -> u16 {
    (((row * 3 + col + frame * 7) ^ (frame * 13)) & 0x0fff) as u16
}
