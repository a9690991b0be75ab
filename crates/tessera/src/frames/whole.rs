//! Frames of an instance whose frames were not located at ingest (a deflated data set,
//! bit-packed frames that do not start on a byte, fragments that do not map onto frames):
//! parse the whole object once and split it into frames, stored and native alike, which
//! the caller keeps in the cache.

use bytes::Bytes;
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids;
use dicom_object::file::ReadPreamble;
use dicom_object::OpenFileOptions;
use dicom_pixeldata::PixelDecoder;

use super::decode::to_native;
use super::error::describe;
use super::info::PixelInfo;
use crate::frames::FrameError;

/// Every frame of one object.
#[derive(Debug)]
pub struct WholeFrames {
    pub info: PixelInfo,
    /// Frames as stored, when they can be told apart; native ones are little endian.
    pub stored: Option<Vec<Bytes>>,
    /// The transfer syntax of `stored`.
    pub stored_syntax: String,
    /// Frames decoded to native little endian, or why they could not be.
    pub native: Result<Vec<Bytes>, String>,
}

/// Parse and split a whole Part 10 object (CPU work: call off the runtime).
pub fn split(bytes: &[u8]) -> Result<WholeFrames, FrameError> {
    let start = if bytes.get(128..132) == Some(b"DICM".as_slice()) {
        128
    } else {
        0
    };
    let file = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(bytes.get(start..).unwrap_or_default())
        .map_err(|e| FrameError::Undecodable(format!("stored object: {}", describe(&e))))?;
    let transfer_syntax = file
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    let element = file
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| FrameError::NotFound("the instance has no pixel data".into()))?;
    let vr = Some(element.vr().to_string().to_string());
    let info = PixelInfo::from_object(&file, &transfer_syntax, vr)?;
    let count = info.number_of_frames as usize;
    match element.value() {
        Value::Primitive(value) => {
            // Parsed values are in the machine's (little endian) order whatever the syntax.
            let data = value.to_bytes();
            let bits = native_frame_length_bits(&info);
            let frames: Vec<Bytes> = (0..count)
                .map(|i| Bytes::from(bit_slice(&data, i * bits, bits)))
                .collect();
            Ok(WholeFrames {
                info,
                stored: Some(frames.clone()),
                stored_syntax: uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
                native: Ok(frames),
            })
        }
        Value::PixelSequence(sequence) => {
            let stored = group_fragments(sequence.fragments(), sequence.offset_table(), count);
            let native = match &stored {
                Some(frames) => frames
                    .iter()
                    .map(|f| to_native(&info, f).map(Bytes::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| match e {
                        FrameError::Undecodable(reason) => reason,
                        other => other.to_string(),
                    }),
                None => decode_all(&file, &info, count),
            };
            Ok(WholeFrames {
                info,
                stored,
                stored_syntax: transfer_syntax,
                native,
            })
        }
        Value::Sequence(_) => Err(FrameError::Undecodable(
            "Pixel Data is a sequence of items".into(),
        )),
    }
}

/// Decode every frame with dicom-pixeldata, when the fragments do not map onto frames.
fn decode_all(
    file: &dicom_object::DefaultDicomObject,
    info: &PixelInfo,
    count: usize,
) -> Result<Vec<Bytes>, String> {
    let decoded = file.decode_pixel_data().map_err(|e| describe(&e))?;
    let data = decoded.data();
    let size = usize::from(info.rows)
        * usize::from(info.columns)
        * usize::from(info.samples_per_pixel)
        * usize::from(info.bits_allocated).div_ceil(8);
    Ok((0..count)
        .map(|i| {
            let from = (i * size).min(data.len());
            Bytes::copy_from_slice(&data[from..(from + size).min(data.len())])
        })
        .collect())
}

fn native_frame_length_bits(info: &PixelInfo) -> usize {
    let samples = if info.photometric == "YBR_FULL_422" {
        2
    } else {
        usize::from(info.samples_per_pixel)
    };
    usize::from(info.rows) * usize::from(info.columns) * samples * usize::from(info.bits_allocated)
}

/// `bits` bits of `data` from bit `start` (bits numbered from the least significant bit of
/// each byte, PS3.5 8.1.1), as bytes starting on bit 0; cut short at the end of the data.
fn bit_slice(data: &[u8], start: usize, bits: usize) -> Vec<u8> {
    if start % 8 == 0 {
        let from = (start / 8).min(data.len());
        let to = (from + bits.div_ceil(8)).min(data.len());
        return data[from..to].to_vec();
    }
    let mut out = vec![0u8; bits.div_ceil(8)];
    for bit in 0..bits {
        let at = start + bit;
        let Some(byte) = data.get(at / 8) else {
            break;
        };
        if byte >> (at % 8) & 1 == 1 {
            out[bit / 8] |= 1 << (bit % 8);
        }
    }
    out
}

/// Fragments per frame: one each, all for a single frame, or by the Basic Offset Table.
fn group_fragments(fragments: &[Vec<u8>], table: &[u32], frames: usize) -> Option<Vec<Bytes>> {
    if fragments.len() == frames {
        return Some(
            fragments
                .iter()
                .map(|f| Bytes::copy_from_slice(f))
                .collect(),
        );
    }
    if frames == 1 {
        return Some(vec![Bytes::from(fragments.concat())]);
    }
    if table.len() != frames {
        return None;
    }
    // Offsets count from the first fragment's item tag; each item is 8 bytes + payload.
    let mut starts = Vec::with_capacity(fragments.len());
    let mut position = 0u64;
    for f in fragments {
        starts.push(position);
        position += 8 + f.len() as u64;
    }
    let mut out = Vec::with_capacity(frames);
    for (i, &offset) in table.iter().enumerate() {
        let first = starts.iter().position(|&s| s == u64::from(offset))?;
        let end = table
            .get(i + 1)
            .map(|&next| starts.iter().position(|&s| s == u64::from(next)))
            .unwrap_or(Some(fragments.len()))?;
        out.push(Bytes::from(fragments.get(first..end)?.concat()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_slices() {
        assert_eq!(bit_slice(&[0xAB, 0xCD], 8, 8), vec![0xCD]);
        // Bits 4..12 of 0xAB 0xCD: high nibble of AB then low nibble of CD.
        assert_eq!(bit_slice(&[0xAB, 0xCD], 4, 8), vec![0xDA]);
        assert_eq!(bit_slice(&[0xFF], 4, 12), vec![0x0F, 0x00]);
    }

    #[test]
    fn groups_fragments() {
        let f = vec![vec![1u8, 2], vec![3, 4], vec![5, 6]];
        assert_eq!(group_fragments(&f, &[], 3).unwrap().len(), 3);
        assert_eq!(
            &group_fragments(&f, &[], 1).unwrap()[0][..],
            &[1, 2, 3, 4, 5, 6]
        );
        let two = group_fragments(&f, &[0, 20], 2).unwrap();
        assert_eq!(&two[0][..], &[1, 2, 3, 4]);
        assert_eq!(&two[1][..], &[5, 6]);
        assert!(group_fragments(&f, &[], 2).is_none());
        assert!(group_fragments(&f, &[0, 7], 2).is_none());
    }
}
