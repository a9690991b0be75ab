//! JPEG frames whose Photometric Interpretation is RGB (PS3.5 8.2.1: the components were
//! compressed without a colour transform). A JPEG stream without JFIF or Adobe marker is
//! read as YCbCr by decoders, so frames like DCMTK's `img2dcm` output of camera JPEGs come
//! out with wrong colours; here the marker decides when there is one, else DICOM's word.
//! Decoded with zune-jpeg (jpeg-decoder, dicom-rs's codec, mis-decodes some blocks of
//! `SC_jpeg_no_color_transform.dcm` when told not to convert colours).

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::frames::FrameError;

/// Whether the stream carries an APP0 JFIF or APP14 Adobe segment before its scan.
fn has_colour_marker(data: &[u8]) -> bool {
    let mut i = 2usize;
    while i + 4 <= data.len() && data[i] == 0xFF {
        let marker = data[i + 1];
        let length = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        let body = data.get(i + 4..i + 2 + length).unwrap_or_default();
        match marker {
            0xE0 if body.starts_with(b"JFIF") => return true,
            0xEE if body.starts_with(b"Adobe") => return true,
            0xDA => return false,
            _ => {}
        }
        i += 2 + length;
    }
    false
}

/// Decode an 8-bit, three-component RGB JPEG frame to interleaved RGB, or `None` when the
/// stream is not that case (the caller's general decoder handles it).
pub fn decode_rgb(frame: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
    if has_colour_marker(frame) {
        return Ok(None);
    }
    // Asking for the stream's own colour space (YCbCr by zune's reckoning) converts nothing.
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(frame), options);
    decoder
        .decode_headers()
        .map_err(|e| FrameError::Undecodable(format!("JPEG: {e:?}")))?;
    if decoder.input_colorspace() != Some(ColorSpace::YCbCr) {
        return Ok(None);
    }
    let pixels = decoder
        .decode()
        .map_err(|e| FrameError::Undecodable(format!("JPEG: {e:?}")))?;
    Ok(Some(pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_markers() {
        let jfif = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0,
        ];
        assert!(has_colour_marker(&jfif));
        let plain = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x03, 0, 0xFF, 0xDA, 0, 2];
        assert!(!has_colour_marker(&plain));
    }
}
