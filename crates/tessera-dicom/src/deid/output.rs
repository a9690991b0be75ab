//! The de-identified Part 10 file: a new preamble and file meta group (PS3.15 E.1.1 item 7:
//! the originals may leak identity), the de-identified data set written by dicom-rs in the
//! original transfer syntax, and the original Pixel Data element copied byte for byte from
//! the input (masked in place when Clean Pixel Data applies).

use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::error::DeidError;
use crate::layout::{DatasetEncoding, Part10Layout, PixelDataLayout};

/// The top-level Pixel Data element as found in the input.
pub(crate) struct RawPixelData<'a> {
    /// Header and value (for encapsulated data: every item and the sequence delimiter).
    pub element: &'a [u8],
    /// Where the value of native pixel data starts in `element`; `None` when encapsulated.
    pub native_value: Option<std::ops::Range<usize>>,
}

fn malformed(reason: &str) -> DeidError {
    DeidError::Write(format!("the input's pixel data cannot be copied: {reason}"))
}

/// Locate the whole top-level Pixel Data element of a walked (not deflated) file.
pub(crate) fn raw_pixel_data<'a>(
    layout: &Part10Layout,
    bytes: &'a [u8],
) -> Result<Option<RawPixelData<'a>>, DeidError> {
    let Some(pixels) = &layout.pixel_data else {
        return Ok(None);
    };
    let element = layout
        .elements
        .iter()
        .find(|e| e.tag == (0x7FE0, 0x0010))
        .ok_or_else(|| malformed("no element header"))?;
    let header_len = match layout.encoding {
        DatasetEncoding::ImplicitLittle => 8,
        _ => 12,
    };
    let value_start =
        usize::try_from(element.value_offset).map_err(|_| malformed("offset out of range"))?;
    let start = value_start
        .checked_sub(header_len)
        .ok_or_else(|| malformed("header before the data set"))?;
    let (end, native_value) = match pixels {
        PixelDataLayout::Native {
            value_offset,
            length,
        } => {
            let from = usize::try_from(*value_offset).map_err(|_| malformed("offset"))?;
            let to = from
                .checked_add(usize::try_from(*length).map_err(|_| malformed("length"))?)
                .ok_or_else(|| malformed("length"))?;
            (to, Some(from - start..to - start))
        }
        PixelDataLayout::Encapsulated { .. } => (sequence_end(bytes, value_start)?, None),
    };
    let element = bytes
        .get(start..end)
        .ok_or_else(|| malformed("the element runs past the end of the file"))?;
    Ok(Some(RawPixelData {
        element,
        native_value,
    }))
}

/// The end of an encapsulated pixel data sequence whose first item starts at `at`: items are
/// skipped by their lengths up to and including the Sequence Delimitation Item.
fn sequence_end(bytes: &[u8], mut at: usize) -> Result<usize, DeidError> {
    loop {
        let header = bytes
            .get(at..at + 8)
            .ok_or_else(|| malformed("no sequence delimiter"))?;
        let group = u16::from_le_bytes([header[0], header[1]]);
        let element = u16::from_le_bytes([header[2], header[3]]);
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        match (group, element) {
            (0xFFFE, 0xE0DD) => return Ok(at + 8),
            (0xFFFE, 0xE000) if len != u32::MAX as usize => at += 8 + len,
            _ => return Err(malformed("an item of encapsulated pixel data is malformed")),
        }
    }
}

/// The file: preamble, meta, data set, then `pixel_data` (header and value) when given.
pub(crate) fn part10(
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    object: &InMemDicomObject,
    pixel_data: Option<&[u8]>,
) -> Result<Vec<u8>, DeidError> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax)
        .ok_or_else(|| DeidError::Write(format!("unknown transfer syntax {transfer_syntax}")))?;
    let mut out = crate::part10::file_meta(sop_class, sop_instance, transfer_syntax, None);
    object
        .write_dataset_with_ts(&mut out, ts)
        .map_err(|err| DeidError::Write(err.to_string()))?;
    if let Some(pixels) = pixel_data {
        out.extend_from_slice(pixels);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_an_encapsulated_sequence_is_found() {
        let mut bytes = vec![0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]; // empty offset table
        bytes.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 2, 0, 0, 0, 1, 2]);
        bytes.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[9, 9]);
        assert_eq!(sequence_end(&bytes, 0).unwrap(), 26);
        assert!(sequence_end(&bytes[..20], 0).is_err());
        assert!(sequence_end(&[0u8; 8], 0).is_err());
    }
}
