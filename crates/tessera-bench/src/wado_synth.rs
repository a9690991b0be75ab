//! The WADO workload's multi-frame instance: a Multi-frame Grayscale Word Secondary Capture
//! Part 10 file (native explicit VR little endian, 16-bit, NumberOfFrames N) in the same
//! study as the CT series, its own series. Every frame differs (a moving ramp), so a server
//! that answered the wrong frame is caught by comparing bytes.

use bytes::{BufMut, Bytes, BytesMut};
use dicom_core::smallvec::smallvec;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use super::synth::{Synth, IMPLEMENTATION_CLASS_UID};

pub struct MultiFrame {
    /// The whole Part 10 file.
    pub file: Bytes,
    pub series_uid: String,
    pub sop_uid: String,
    pub frames: u32,
    /// Where the first frame starts in `file`.
    pixel_offset: usize,
    frame_len: usize,
}

impl MultiFrame {
    /// A Part 10 `file` whose `frames` frames of `frame_len` bytes each start at
    /// `pixel_offset`.
    pub fn new(
        file: Bytes,
        series_uid: String,
        sop_uid: String,
        frames: u32,
        pixel_offset: usize,
        frame_len: usize,
    ) -> Result<MultiFrame, String> {
        if pixel_offset + frames as usize * frame_len > file.len() {
            return Err("multi-frame: the frames run past the end of the file".into());
        }
        Ok(MultiFrame {
            file,
            series_uid,
            sop_uid,
            frames,
            pixel_offset,
            frame_len,
        })
    }

    /// Frame `number` (1-based) as stored.
    pub fn frame(&self, number: u32) -> Bytes {
        let start = self.pixel_offset + (number as usize - 1) * self.frame_len;
        self.file.slice(start..start + self.frame_len)
    }
}

/// A `size` x `size` instance of `frames` frames in study `study` of workload `cell`.
pub fn multiframe(
    synth: &Synth,
    cell: u32,
    study: u64,
    size: u16,
    frames: u32,
) -> Result<MultiFrame, String> {
    let root = &synth.uid_root;
    let series_uid = format!("{root}.5.{cell}.{study}");
    let sop_uid = format!("{root}.6.{cell}.{study}");
    let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let own = [
        text(tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY"),
        text(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
        ),
        text(tags::SOP_INSTANCE_UID, VR::UI, &sop_uid),
        text(tags::MODALITY, VR::CS, "OT"),
        text(tags::CONVERSION_TYPE, VR::CS, "WSD"),
        text(tags::MANUFACTURER, VR::LO, "Tessera Bench"),
        text(tags::SERIES_DESCRIPTION, VR::LO, "Multi-frame cine"),
        text(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
        text(tags::SERIES_NUMBER, VR::IS, "2"),
        text(tags::INSTANCE_NUMBER, VR::IS, "1"),
        text(tags::FRAME_TIME, VR::DS, "33.3"),
        text(tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string()),
        DataElement::new(
            tags::FRAME_INCREMENT_POINTER,
            VR::AT,
            PrimitiveValue::Tags(smallvec![tags::FRAME_TIME]),
        ),
        us(tags::SAMPLES_PER_PIXEL, 1),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        us(tags::ROWS, size),
        us(tags::COLUMNS, size),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, 12),
        us(tags::HIGH_BIT, 11),
        us(tags::PIXEL_REPRESENTATION, 0),
    ];
    let obj = InMemDicomObject::from_element_iter(
        synth.study_elements(cell, study).into_iter().chain(own),
    );
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
                .implementation_version_name("TESSERA_BENCH"),
        )
        .map_err(|err| format!("building the file meta group: {err}"))?;
    let mut header = Vec::with_capacity(2048);
    file.write_all(&mut header)
        .map_err(|err| format!("encoding the multi-frame instance: {err}"))?;

    let n = usize::from(size);
    let frame_len = n * n * 2;
    let value_len = u32::try_from(frame_len * frames as usize)
        .map_err(|_| "the multi-frame Pixel Data would exceed 4 GiB".to_string())?;
    let mut out = BytesMut::with_capacity(header.len() + 12 + value_len as usize);
    out.put_slice(&header);
    out.put_u16_le(tags::PIXEL_DATA.group());
    out.put_u16_le(tags::PIXEL_DATA.element());
    out.put_slice(b"OW");
    out.put_u16_le(0);
    out.put_u32_le(value_len);
    let pixel_offset = out.len();
    for frame in 0..frames as usize {
        for row in 0..n {
            for col in 0..n {
                let v = (row * 3 + col + frame * 7) ^ (frame * 13);
                out.put_u16_le((v & 0x0fff) as u16);
            }
        }
    }
    Ok(MultiFrame {
        file: out.freeze(),
        series_uid,
        sop_uid,
        frames,
        pixel_offset,
        frame_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiframe_is_a_part10_file_whose_frames_are_where_we_say() {
        let synth = Synth::new(8, 4, 3);
        let mf = multiframe(&synth, 1, 0, 8, 5).unwrap();
        let obj = dicom_object::DefaultDicomObject::from_reader(&mf.file[..]).unwrap();
        let frames = obj.element(tags::NUMBER_OF_FRAMES).unwrap().to_int::<u32>();
        assert_eq!(frames.unwrap(), 5);
        let study = obj.element(tags::STUDY_INSTANCE_UID).unwrap();
        assert_eq!(study.to_str().unwrap(), synth.study_uid(1, 0));
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(pixels.len(), 5 * 8 * 8 * 2);
        assert_eq!(&pixels[3 * 128..4 * 128], &mf.frame(4)[..]);
        assert_ne!(mf.frame(1), mf.frame(2));
    }
}
