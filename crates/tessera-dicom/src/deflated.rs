//! A deflated data set (Deflated Explicit VR Little Endian, PS3.5 A.5) inflated and checked
//! before dicom-rs reads it. The layout walk cannot see through the compression, and dicom-rs
//! reserves whatever length an element claims: a 313-byte file with a lying length inside
//! made it reserve 4 GB, and a 261 KB deflate bomb grew to 965 MB. Here the data set is
//! inflated into a buffer of bounded size and walked like any explicit little endian one, so
//! every length inside is checked against what is really there; dicom-rs then reads those
//! inflated bytes, not the compressed stream again: inflating a corrupt stream again as it
//! read, dicom-rs got bytes beyond those the check had inflated and walked (a 116-byte input
//! found by the libFuzzer target `dicom_json` made it reserve 1.4 GB).

use std::io::Read;

use crate::error::DicomError;
use crate::layout::{self, LayoutError, Part10Layout};
use crate::limits::ParseLimits;

/// Inflated bytes allowed: a fixed allowance plus a multiple of the compressed size far above
/// what DICOM data compresses by (a bomb inflates a thousandfold), never above 1 GiB.
fn inflated_limit(compressed: usize) -> u64 {
    let limit = (64u64 << 20).saturating_add((compressed as u64).saturating_mul(32));
    limit.min(1 << 30)
}

/// The inflated data set, or why it is refused (C000): it inflates beyond the limit, its
/// elements do not fit what it holds, or it is not explicit VR little endian as its transfer
/// syntax says.
pub fn inflate(
    layout: &Part10Layout,
    bytes: &[u8],
    limits: &ParseLimits,
) -> Result<Vec<u8>, DicomError> {
    let start = usize::try_from(layout.dataset_offset).unwrap_or(usize::MAX);
    let compressed = bytes.get(start..).unwrap_or_default();
    let limit = inflated_limit(compressed.len());
    // A Part 10 file around the inflated data set, so that the walk reads it as what it is.
    let mut file = b"DICM".to_vec();
    file.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I', 20, 0]);
    file.extend_from_slice(b"1.2.840.10008.1.2.1\0");
    let header = file.len();
    let read = flate2::read::DeflateDecoder::new(compressed)
        .take(limit + 1)
        .read_to_end(&mut file)
        .map_err(|err| DicomError::Malformed {
            offset: layout.dataset_offset,
            reason: format!("the deflated data set cannot be inflated: {err}"),
        })?;
    if read as u64 > limit {
        return Err(DicomError::Malformed {
            offset: layout.dataset_offset,
            reason: format!("the deflated data set inflates to more than {limit} bytes"),
        });
    }
    match layout::walk_with(&file, limits) {
        Ok(inner) => {
            crate::declared::data_set_as_declared(&inner, &file).map_err(|err| match err {
                DicomError::Malformed { offset, reason } => DicomError::Malformed {
                    offset: layout.dataset_offset,
                    reason: format!(
                        "in the deflated data set, at inflated offset {}: {reason}",
                        offset.saturating_sub(header as u64)
                    ),
                },
                other => other,
            })?;
            Ok(file.split_off(header))
        }
        Err(err) => {
            let inner = match err {
                LayoutError::Truncated { offset } => (offset, "unexpected end of data".into()),
                LayoutError::Malformed { offset, reason } => (offset, reason.to_string()),
                LayoutError::TooDeep { offset, limit } => (offset, layout::too_deep(limit)),
                other => (0, other.to_string()),
            };
            Err(DicomError::Malformed {
                offset: layout.dataset_offset,
                reason: format!(
                    "in the deflated data set, at inflated offset {}: {}",
                    inner.0.saturating_sub(header as u64),
                    inner.1
                ),
            })
        }
    }
}
