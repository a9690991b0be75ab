//! One Part 10 file parsed: its byte layout walked, the transfer syntax checked, the data
//! set read without its pixel data, the character sets found; text read from the raw bytes.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, FileMetaTable, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::charset::CharacterSets;
use crate::error::DicomError;
use crate::layout::{self, DatasetEncoding, LayoutError, Part10Layout};
use crate::limits::ParseLimits;
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

/// Parse and validate one Part 10 file, with the default limits.
pub fn parse(bytes: &[u8]) -> Result<ParsedFile<'_>, DicomError> {
    parse_with(bytes, &ParseLimits::default())
}

/// Parse and validate one Part 10 file within `limits`.
pub fn parse_with<'a>(bytes: &'a [u8], limits: &ParseLimits) -> Result<ParsedFile<'a>, DicomError> {
    let layout = layout::walk_with(bytes, limits).map_err(|err| match err {
        LayoutError::NotPart10 => DicomError::NotPart10,
        LayoutError::Truncated { offset } => DicomError::Malformed {
            offset,
            reason: "unexpected end of data".into(),
        },
        LayoutError::Malformed { offset, reason } => DicomError::Malformed {
            offset,
            reason: reason.to_string(),
        },
        LayoutError::TooDeep { offset, limit } => DicomError::Malformed {
            offset,
            reason: layout::too_deep(limit),
        },
        other => DicomError::Unreadable(other.to_string()),
    })?;
    let ts = TransferSyntaxUid::parse(&layout.transfer_syntax)
        .map_err(|_| DicomError::UnsupportedTransferSyntax(layout.transfer_syntax.clone()))?;
    match TransferSyntaxRegistry.get(ts.as_str()) {
        Some(known) if !known.is_unsupported() => {}
        _ => return Err(DicomError::UnsupportedTransferSyntax(ts.to_string())),
    }
    meta_group_length_agrees(&layout, bytes)?;
    let start = if layout.has_preamble { 128 } else { 0 };
    let unreadable = |err: &dyn std::fmt::Display| DicomError::Unreadable(err.to_string());
    let mut object = if layout.encoding == DatasetEncoding::Deflated {
        // dicom-rs reads the data set as inflated and checked here, not the stream again.
        let data_set = crate::deflated::inflate(&layout, bytes, limits)?;
        let meta = FileMetaTable::from_reader(&bytes[start..]).map_err(|e| unreadable(&e))?;
        let explicit = TransferSyntaxRegistry
            .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .ok_or_else(|| DicomError::UnsupportedTransferSyntax(ts.to_string()))?;
        InMemDicomObject::read_dataset_with_ts(&data_set[..], explicit)
            .map_err(|e| unreadable(&e))?
            .with_exact_meta(meta)
    } else {
        crate::declared::data_set_as_declared(&layout, bytes)?;
        // Pixel data is located by the layout walk; never decode it here.
        OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .read_until(tags::PIXEL_DATA)
            .from_reader(&bytes[start..])
            .map_err(|e| unreadable(&e))?
    };
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
            .get(tags::PIXEL_DATA)
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

/// dicom-rs reads the file meta group by its group length (whole elements until the length is
/// used up, whatever their group) and starts the data set there; the walk reads it element by
/// element while the group is 0002. A group length that says otherwise made dicom-rs start the
/// data set at another byte than the walk, and read bytes the walk never checked: one byte too
/// many let 5,000 nested sequences hidden in a value the walk had skipped overflow the stack
/// (tests/walk_agreement.rs). Every reader of stored files uses dicom-rs, so such a file is
/// refused rather than read one way here and another way there.
fn meta_group_length_agrees(layout: &Part10Layout, bytes: &[u8]) -> Result<(), DicomError> {
    let refuse = |reason: String| DicomError::Malformed {
        offset: if layout.has_preamble { 132 } else { 4 },
        reason,
    };
    let Some(group_length) = layout.meta.first().filter(|e| e.tag == (0x0002, 0x0000)) else {
        return Err(refuse(
            "the file meta information does not start with its group length (0002,0000)".into(),
        ));
    };
    let value = layout::element_value(bytes, group_length)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| refuse("the file meta group length is not a 4-byte value".into()))?;
    let elements = layout
        .dataset_offset
        .saturating_sub(group_length.value_offset.saturating_add(4));
    if u64::from(value) != elements {
        return Err(refuse(format!(
            "the file meta group length (0002,0000) says {value} bytes but the group's elements \
             take {elements}"
        )));
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
            None => self.object.get(tag)?.to_str().ok()?.into_owned(),
        };
        let trimmed = decoded.trim_matches(|c: char| c == ' ' || c == '\0');
        (!trimmed.is_empty()).then(|| trimmed.to_string())
    }

    /// Whether any top-level text needs our own decoder (non-default character set).
    pub fn needs_text_fixup(&self) -> bool {
        !self.charsets.is_default()
    }

    pub(crate) fn int(&self, tag: Tag) -> Option<i64> {
        self.object.get(tag)?.to_int::<i64>().ok()
    }

    pub(crate) fn uid(&self, tag: Tag) -> Option<String> {
        let value = self.object.get(tag)?.to_str().ok()?;
        Some(value.into_owned())
    }
}
