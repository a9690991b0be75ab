//! Whether a data set is encoded as its transfer syntax declares, checked on the bytes before
//! dicom-rs reads them (for a deflated data set, on the inflated bytes).

use dicom_dictionary_std::uids;

use crate::error::DicomError;
use crate::layout::{self, DatasetEncoding, Part10Layout};

/// dicom-rs reads the data set by its declared transfer syntax and allocates what length
/// fields claim: a data set in another encoding than declared, or a UN element of undefined
/// length (which it reads as a 4 GiB value), costs it seconds and gigabytes. Refuse both (for
/// a deflated data set, on the inflated bytes).
pub(crate) fn data_set_as_declared(layout: &Part10Layout, bytes: &[u8]) -> Result<(), DicomError> {
    let declared_implicit = layout.transfer_syntax == uids::IMPLICIT_VR_LITTLE_ENDIAN;
    if layout.encoding == DatasetEncoding::ImplicitLittle && !declared_implicit {
        return Err(DicomError::Malformed {
            offset: layout.dataset_offset,
            reason: format!(
                "the data set is encoded in implicit VR but transfer syntax {} says explicit VR",
                layout.transfer_syntax
            ),
        });
    }
    if matches!(
        layout.encoding,
        DatasetEncoding::ExplicitLittle | DatasetEncoding::ExplicitBig
    ) {
        let header_end = match &layout.pixel_data {
            Some(layout::PixelDataLayout::Native { value_offset, .. }) => *value_offset,
            Some(layout::PixelDataLayout::Encapsulated { fragments, .. }) => fragments
                .first()
                .map(|f| f.item_offset)
                .unwrap_or(bytes.len() as u64),
            None => bytes.len() as u64,
        };
        let start = usize::try_from(layout.dataset_offset).unwrap_or(usize::MAX);
        let end = usize::try_from(header_end)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let pattern = b"UN\0\0\xFF\xFF\xFF\xFF";
        if let Some(found) = bytes
            .get(start..end)
            .and_then(|region| region.windows(pattern.len()).position(|w| w == pattern))
        {
            return Err(DicomError::Malformed {
                offset: (start + found) as u64,
                reason: "UN elements of undefined length are not supported".into(),
            });
        }
    }
    Ok(())
}
