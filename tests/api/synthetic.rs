//! Synthetic instances the tests build themselves, where no small real file has the shape a
//! test needs (a large multi-frame instance, for the staging path).

use bytes::{BufMut, Bytes, BytesMut};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

/// A native 16-bit MONOCHROME2 multi-frame instance and where its frames are in the file.
pub struct MultiFrame {
    pub file: Bytes,
    pub study_uid: String,
    pub series_uid: String,
    pub sop_uid: String,
    pixel_offset: usize,
    frame_len: usize,
}

impl MultiFrame {
    /// `size` x `size` pixels, `frames` frames, each pixel a function of its place and frame
    /// (so every frame differs); the UIDs end in `n`.
    pub fn new(n: u32, size: u16, frames: u32) -> MultiFrame {
        let study_uid = format!("2.25.7070.1.{n}");
        let series_uid = format!("2.25.7070.2.{n}");
        let sop_uid = format!("2.25.7070.3.{n}");
        let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
        let text = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
        let object = InMemDicomObject::from_element_iter([
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
        let mut header = Vec::new();
        file.write_all(&mut header).expect("encode the data set");
        // Pixel Data (7FE0,0010) OW appended by hand: the frames are written once, in place.
        let side = usize::from(size);
        let frame_len = side * side * 2;
        let value_len = u32::try_from(frame_len * frames as usize).expect("under 4 GiB");
        let mut out = BytesMut::with_capacity(header.len() + 12 + value_len as usize);
        out.put_slice(&header);
        out.put_u16_le(tags::PIXEL_DATA.group());
        out.put_u16_le(tags::PIXEL_DATA.element());
        out.put_slice(b"OW");
        out.put_u16_le(0);
        out.put_u32_le(value_len);
        let pixel_offset = out.len();
        for frame in 0..frames as usize {
            for row in 0..side {
                for col in 0..side {
                    let v = (row * 3 + col + frame * 7) ^ (frame * 13);
                    out.put_u16_le((v & 0x0fff) as u16);
                }
            }
        }
        MultiFrame {
            file: out.freeze(),
            study_uid,
            series_uid,
            sop_uid,
            pixel_offset,
            frame_len,
        }
    }

    /// The bytes of frame `number` (1-based) as stored.
    pub fn frame(&self, number: u32) -> Bytes {
        let start = self.pixel_offset + (number as usize - 1) * self.frame_len;
        self.file.slice(start..start + self.frame_len)
    }
}
