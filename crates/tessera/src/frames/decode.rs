//! Stored frame bytes to native little endian frames (the default `application/octet-stream`
//! representation, PS3.18 8.7.3.3.2, and the input of rendering).
//!
//! Native little endian data is already native. Big endian native data is byte-swapped per
//! sample (PS3.5 7.3; an OW value of 8-bit samples is swapped per 16-bit word). An
//! encapsulated frame is decoded with dicom-pixeldata on a minimal in-memory object holding
//! only the pixel description and that one frame, so a 1000-frame object costs one frame.

use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::error::describe;
use super::info::PixelInfo;
use super::syntax::is_native;
use super::{jpeg, rle};
use crate::frames::FrameError;

/// Whether a codec built into this server can decode frames of this transfer syntax.
pub fn can_decode(transfer_syntax: &str) -> bool {
    is_native(transfer_syntax)
        || transfer_syntax == uids::RLE_LOSSLESS
        || TransferSyntaxRegistry
            .get(transfer_syntax)
            .is_some_and(|ts| ts.can_decode_all())
}

/// Bytes of one native frame: Rows × Columns × samples × Bits Allocated / 8, rounded up,
/// where native YBR_FULL_422 has two samples per pixel (PS3.3 C.7.6.3.1.2).
pub fn native_frame_length(info: &PixelInfo) -> usize {
    let samples = if info.photometric == "YBR_FULL_422" && is_native(&info.transfer_syntax) {
        2
    } else {
        usize::from(info.samples_per_pixel)
    };
    let bits = usize::from(info.rows)
        * usize::from(info.columns)
        * samples
        * usize::from(info.bits_allocated);
    bits.div_ceil(8)
}

/// How the decoded frame is laid out: its photometric interpretation and planar
/// configuration. Codecs return colour as interleaved RGB.
pub fn native_layout(info: &PixelInfo) -> (&str, u16) {
    if info.transfer_syntax == uids::RLE_LOSSLESS {
        // RLE has no colour transform: the samples come back as they were encoded.
        (&info.photometric, 0)
    } else if is_native(&info.transfer_syntax) {
        (&info.photometric, info.planar_configuration)
    } else if info.samples_per_pixel == 3 {
        ("RGB", 0)
    } else {
        (&info.photometric, 0)
    }
}

/// How many bytes swap places in a big endian value: per sample, or per 16-bit word for an
/// OW value of 8-bit samples.
fn swap_unit(info: &PixelInfo) -> usize {
    match info.bits_allocated {
        16 => 2,
        32 => 4,
        64 => 8,
        8 if info.pixel_data_vr.as_deref() == Some("OW") => 2,
        _ => 1,
    }
}

/// Extra bytes to read past a stored big endian frame so that its last word is whole (an
/// odd-length frame of 8-bit samples in OW: the final sample sits after the padding byte).
pub fn read_ahead(info: &PixelInfo, frame_length: u64) -> u64 {
    if info.transfer_syntax == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN && swap_unit(info) == 2 {
        frame_length % 2
    } else {
        0
    }
}

/// Turn a stored frame into native little endian bytes (CPU work: call off the runtime).
pub fn to_native(info: &PixelInfo, stored: &[u8]) -> Result<Vec<u8>, FrameError> {
    if info.transfer_syntax == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN {
        let unit = swap_unit(info);
        let mut out = stored.to_vec();
        if unit > 1 {
            for chunk in out.chunks_exact_mut(unit) {
                chunk.reverse();
            }
        }
        out.truncate(native_frame_length(info).min(out.len()));
        return Ok(out);
    }
    if is_native(&info.transfer_syntax) {
        return Ok(stored.to_vec());
    }
    if info.transfer_syntax == uids::RLE_LOSSLESS && info.bits_allocated % 8 == 0 {
        let pixels = usize::from(info.rows) * usize::from(info.columns);
        return rle::decode(
            stored,
            pixels,
            usize::from(info.samples_per_pixel),
            usize::from(info.bits_allocated / 8),
        );
    }
    if is_rgb_jpeg(info) {
        if let Some(rgb) = jpeg::decode_rgb(stored)? {
            return Ok(rgb);
        }
    }
    decode_encapsulated(info, stored)
}

/// 8-bit RGB in a lossy JPEG syntax (process 1 or 2/4); lossless JPEG has no colour
/// transform to get wrong.
fn is_rgb_jpeg(info: &PixelInfo) -> bool {
    info.photometric == "RGB"
        && info.samples_per_pixel == 3
        && info.bits_allocated == 8
        && matches!(
            info.transfer_syntax.as_str(),
            uids::JPEG_BASELINE8_BIT | uids::JPEG_EXTENDED12_BIT
        )
}

fn us(tag: Tag, value: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(value))
}

/// Decode one encapsulated frame (its fragments joined) with the registered codecs.
fn decode_encapsulated(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    if !can_decode(&info.transfer_syntax) {
        return Err(FrameError::Undecodable(format!(
            "no codec for transfer syntax {} in this build",
            info.transfer_syntax
        )));
    }
    let mut object = InMemDicomObject::from_element_iter([
        us(tags::ROWS, info.rows),
        us(tags::COLUMNS, info.columns),
        us(tags::SAMPLES_PER_PIXEL, info.samples_per_pixel),
        us(tags::BITS_ALLOCATED, info.bits_allocated),
        us(tags::BITS_STORED, info.bits_stored),
        us(tags::HIGH_BIT, info.high_bit),
        us(tags::PIXEL_REPRESENTATION, info.pixel_representation),
        DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from(info.photometric.as_str()),
        ),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("1")),
    ]);
    if info.samples_per_pixel > 1 {
        object.put(us(tags::PLANAR_CONFIGURATION, info.planar_configuration));
    }
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PixelFragmentSequence::new(Vec::<u32>::new(), vec![frame.to_vec()]),
    ));
    let file = object
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(info.transfer_syntax.as_str())
                .media_storage_sop_class_uid(info.sop_class_uid.as_str())
                .media_storage_sop_instance_uid("2.25.0"),
        )
        .map_err(|e| FrameError::Undecodable(describe(&e)))?;
    let decoded = file
        .decode_pixel_data_frame(0)
        .map_err(|e| FrameError::Undecodable(describe(&e)))?;
    Ok(decoded.data().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ts: &str, bits: u16, vr: Option<&str>) -> PixelInfo {
        PixelInfo {
            transfer_syntax: ts.into(),
            sop_class_uid: uids::SECONDARY_CAPTURE_IMAGE_STORAGE.into(),
            rows: 1,
            columns: 3,
            samples_per_pixel: 1,
            bits_allocated: bits,
            bits_stored: bits,
            high_bit: bits - 1,
            pixel_representation: 0,
            photometric: "MONOCHROME2".into(),
            planar_configuration: 0,
            number_of_frames: 1,
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
            window: None,
            palette: None,
            pixel_data_vr: vr.map(str::to_string),
        }
    }

    #[test]
    fn big_endian_is_swapped_per_sample() {
        let i = info(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN, 16, Some("OW"));
        assert_eq!(
            to_native(&i, &[0, 1, 0, 2, 0, 3]).unwrap(),
            vec![1, 0, 2, 0, 3, 0]
        );
        let i = info(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN, 32, Some("OW"));
        let mut i3 = i.clone();
        i3.columns = 1;
        assert_eq!(to_native(&i3, &[0, 0, 1, 2]).unwrap(), vec![2, 1, 0, 0]);
        // 8-bit samples in OW: words swapped; the odd last sample follows the pad byte.
        let i = info(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN, 8, Some("OW"));
        assert_eq!(read_ahead(&i, 3), 1);
        assert_eq!(to_native(&i, &[2, 1, 0, 3]).unwrap(), vec![1, 2, 3]);
        let i = info(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN, 8, Some("OB"));
        assert_eq!(read_ahead(&i, 3), 0);
        assert_eq!(to_native(&i, &[1, 2, 3]).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn unknown_codecs_are_undecodable() {
        let i = info(uids::MPEG2MPML, 8, None);
        assert!(matches!(
            to_native(&i, &[0; 4]),
            Err(FrameError::Undecodable(_))
        ));
        assert!(can_decode(uids::RLE_LOSSLESS));
        assert!(can_decode(uids::JPEG_BASELINE8_BIT));
        assert!(can_decode(uids::JPEG2000_LOSSLESS));
    }
}
