//! One Part 10 file parsed: its byte layout walked, the transfer syntax checked, the data
//! set read without its pixel data, the character sets found; text read from the raw bytes.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::charset::CharacterSets;
use crate::error::DicomError;
use crate::layout::{self, DatasetEncoding, LayoutError, Part10Layout};
use crate::uid::TransferSyntaxUid;

/// A parsed file: its byte layout and the data set without pixel data.
pub struct ParsedFile<'a> {
    pub bytes: &'a [u8],
    pub layout: Part10Layout,
    pub object: DefaultDicomObject,
    pub charsets: CharacterSets,
    /// VR of the top-level Pixel Data element, when there is one.
    pub pixel_data_vr: Option<String>,
}

/// Parse and validate one Part 10 file.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile<'_>, DicomError> {
    let layout = layout::walk(bytes).map_err(|err| match err {
        LayoutError::NotPart10 => DicomError::NotPart10,
        LayoutError::Truncated { offset } => DicomError::Malformed {
            offset,
            reason: "unexpected end of data".into(),
        },
        LayoutError::Malformed { offset, reason } => DicomError::Malformed {
            offset,
            reason: reason.to_string(),
        },
        other => DicomError::Unreadable(other.to_string()),
    })?;
    let ts = TransferSyntaxUid::parse(&layout.transfer_syntax)
        .map_err(|_| DicomError::UnsupportedTransferSyntax(layout.transfer_syntax.clone()))?;
    match TransferSyntaxRegistry.get(ts.as_str()) {
        Some(known) if !known.is_unsupported() => {}
        _ => return Err(DicomError::UnsupportedTransferSyntax(ts.to_string())),
    }
    reject_what_the_parser_mishandles(&layout, bytes)?;
    if layout.encoding == DatasetEncoding::Deflated {
        crate::deflated::check(&layout, bytes)?;
    }
    let start = if layout.has_preamble { 128 } else { 0 };
    let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    if layout.encoding != DatasetEncoding::Deflated {
        // Pixel data is located by the layout walk; never decode it here.
        options = options.read_until(tags::PIXEL_DATA);
    }
    let mut object = options
        .from_reader(&bytes[start..])
        .map_err(|err| DicomError::Unreadable(err.to_string()))?;
    let pixel_data_vr = match &layout.pixel_data {
        Some(_) => Some(
            layout
                .elements
                .iter()
                .find(|e| e.tag == (0x7FE0, 0x0010))
                .and_then(|e| e.vr)
                .map(|vr| String::from_utf8_lossy(&vr).into_owned())
                .unwrap_or_else(|| "OW".to_string()),
        ),
        None => object
            .element(tags::PIXEL_DATA)
            .ok()
            .map(|e| e.vr().to_string().to_string()),
    };
    object.remove_element(tags::PIXEL_DATA);
    let raw_charset = raw_value(&layout, bytes, tags::SPECIFIC_CHARACTER_SET);
    let charsets = match raw_charset {
        Some(raw) => CharacterSets::parse(raw).unwrap_or_else(|err| {
            tracing::warn!(%err, "unknown Specific Character Set; decoding as default repertoire");
            CharacterSets::default_repertoire()
        }),
        None => CharacterSets::default_repertoire(),
    };
    crate::un::resolve_unknown_vrs(
        &mut object,
        layout.encoding == DatasetEncoding::ExplicitBig,
        &charsets,
    );
    Ok(ParsedFile {
        bytes,
        layout,
        object,
        charsets,
        pixel_data_vr,
    })
}

/// dicom-rs reads the data set by its declared transfer syntax and allocates what length
/// fields claim: a data set in another encoding than declared, or a UN element of undefined
/// length (which it reads as a 4 GiB value), costs it seconds and gigabytes. Refuse both.
fn reject_what_the_parser_mishandles(
    layout: &Part10Layout,
    bytes: &[u8],
) -> Result<(), DicomError> {
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

pub(crate) fn raw_value<'b>(layout: &Part10Layout, bytes: &'b [u8], tag: Tag) -> Option<&'b [u8]> {
    let element = layout
        .elements
        .iter()
        .find(|e| e.tag == (tag.group(), tag.element()))?;
    let start = usize::try_from(element.value_offset).ok()?;
    let len = usize::try_from(element.value_length?).ok()?;
    bytes.get(start..start.checked_add(len)?)
}

impl ParsedFile<'_> {
    /// A top-level text attribute, decoded per Specific Character Set, trimmed, None if empty.
    pub fn text(&self, tag: Tag, vr: [u8; 2]) -> Option<String> {
        let decoded = match raw_value(&self.layout, self.bytes, tag) {
            Some(raw) => self.charsets.decode(raw, vr),
            // Deflated data sets have no byte layout: use dicom-rs's decoding.
            None => self.object.element(tag).ok()?.to_str().ok()?.into_owned(),
        };
        let trimmed = decoded.trim_matches(|c: char| c == ' ' || c == '\0');
        (!trimmed.is_empty()).then(|| trimmed.to_string())
    }

    /// Whether any top-level text needs our own decoder (non-default character set).
    pub fn needs_text_fixup(&self) -> bool {
        !self.charsets.is_default()
    }

    pub(crate) fn int(&self, tag: Tag) -> Option<i64> {
        self.object.element(tag).ok()?.to_int::<i64>().ok()
    }

    pub(crate) fn uid(&self, tag: Tag) -> Option<String> {
        let value = self.object.element(tag).ok()?.to_str().ok()?;
        Some(value.into_owned())
    }
}
