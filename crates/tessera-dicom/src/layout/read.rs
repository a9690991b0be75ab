//! Bounds-checked reading of element headers and values in either byte order and VR
//! explicitness (PS3.5 7.1), and the tags and VRs the walk needs to recognise.

use super::LayoutError;

pub(super) const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
pub(super) const EXTENDED_OFFSET_TABLE: (u16, u16) = (0x7FE0, 0x0001);
pub(super) const EXTENDED_OFFSET_TABLE_LENGTHS: (u16, u16) = (0x7FE0, 0x0002);
pub(super) const ITEM: (u16, u16) = (0xFFFE, 0xE000);
pub(super) const ITEM_DELIMITATION: (u16, u16) = (0xFFFE, 0xE00D);
pub(super) const SEQUENCE_DELIMITATION: (u16, u16) = (0xFFFE, 0xE0DD);
pub(super) const TRANSFER_SYNTAX_UID: (u16, u16) = (0x0002, 0x0010);
pub(super) const FILE_META_GROUP_LENGTH: (u16, u16) = (0x0002, 0x0000);
pub(super) const UNDEFINED_LENGTH: u32 = 0xFFFF_FFFF;
pub(super) const PREAMBLE_LEN: usize = 128;

/// VRs with two reserved bytes and a 32-bit length in explicit VR (PS3.5 7.1.2).
pub(super) const LONG_VRS: [&[u8; 2]; 13] = [
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV",
];

/// Every VR defined by PS3.5 6.2, used to detect a data set that is
/// encoded in implicit VR although its transfer syntax says explicit.
pub(super) const KNOWN_VRS: [&[u8; 2]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// Codec start markers used to find frame boundaries without offset tables:
/// JPEG / JPEG-LS SOI, JPEG 2000 codestream SOC+SIZ, JP2 signature box.
pub(super) const FRAME_START_MARKERS: [&[u8]; 3] = [
    &[0xFF, 0xD8],
    &[0xFF, 0x4F, 0xFF, 0x51],
    &[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20],
];

/// Byte order and VR explicitness of the part of the file being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Syntax {
    pub(super) explicit: bool,
    pub(super) big: bool,
}

pub(super) const EXPLICIT_LE: Syntax = Syntax {
    explicit: true,
    big: false,
};
pub(super) const IMPLICIT_LE: Syntax = Syntax {
    explicit: false,
    big: false,
};

/// A parsed element (or item/delimiter) header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub(super) tag: (u16, u16),
    pub(super) vr: Option<[u8; 2]>,
    /// Offset of the first value byte.
    pub(super) value_offset: usize,
    /// `None` for undefined length.
    pub(super) length: Option<u32>,
}

pub(super) fn off(x: usize) -> u64 {
    x as u64
}

pub(super) fn truncated(offset: usize) -> LayoutError {
    LayoutError::Truncated {
        offset: off(offset),
    }
}

pub(super) fn malformed(offset: usize, reason: &'static str) -> LayoutError {
    LayoutError::Malformed {
        offset: off(offset),
        reason,
    }
}

pub(super) fn slice_at(bytes: &[u8], pos: usize, len: usize) -> Option<&[u8]> {
    bytes.get(pos..pos.checked_add(len)?)
}

pub(super) fn u16_at(bytes: &[u8], pos: usize, big: bool) -> Option<u16> {
    let a: [u8; 2] = slice_at(bytes, pos, 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

pub(super) fn u32_at(bytes: &[u8], pos: usize, big: bool) -> Option<u32> {
    let a: [u8; 4] = slice_at(bytes, pos, 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

pub(super) fn u64_at(bytes: &[u8], pos: usize, big: bool) -> Option<u64> {
    let a: [u8; 8] = slice_at(bytes, pos, 8)?.try_into().ok()?;
    Some(if big {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    })
}

pub(super) fn to_usize(x: u64, offset: usize) -> Result<usize, LayoutError> {
    usize::try_from(x).map_err(|_| truncated(offset))
}

/// Reads the element header at `pos`.
pub(super) fn read_header(bytes: &[u8], pos: usize, syn: Syntax) -> Result<Header, LayoutError> {
    let group = u16_at(bytes, pos, syn.big).ok_or_else(|| truncated(pos))?;
    let element = u16_at(bytes, pos.saturating_add(2), syn.big).ok_or_else(|| truncated(pos))?;
    let tag = (group, element);
    let after_tag = pos.checked_add(4).ok_or_else(|| truncated(pos))?;

    let (vr, length, value_offset) = if group == 0xFFFE || !syn.explicit {
        let len = u32_at(bytes, after_tag, syn.big).ok_or_else(|| truncated(pos))?;
        (None, len, after_tag.saturating_add(4))
    } else {
        let vr: [u8; 2] = slice_at(bytes, after_tag, 2)
            .ok_or_else(|| truncated(pos))?
            .try_into()
            .map_err(|_| truncated(pos))?;
        if !vr.iter().all(u8::is_ascii_uppercase) {
            return Err(malformed(pos, "invalid explicit VR"));
        }
        // dicom-rs reads a VR it does not know as UN (reserved bytes and a 32-bit length);
        // reading a 16-bit length here would put the walk and the parser out of step, the
        // parser then reading bytes the walk never checked.
        if !KNOWN_VRS.contains(&&vr) {
            return Err(malformed(pos, "unknown VR (not defined by PS3.5 6.2)"));
        }
        if LONG_VRS.contains(&&vr) {
            let len = u32_at(bytes, after_tag.saturating_add(4), syn.big)
                .ok_or_else(|| truncated(pos))?;
            (Some(vr), len, after_tag.saturating_add(8))
        } else {
            let len = u16_at(bytes, after_tag.saturating_add(2), syn.big)
                .ok_or_else(|| truncated(pos))?;
            (Some(vr), u32::from(len), after_tag.saturating_add(4))
        }
    };
    Ok(Header {
        tag,
        vr,
        value_offset,
        length: (length != UNDEFINED_LENGTH).then_some(length),
    })
}

/// End offset of a defined-length value, checked against the data.
pub(super) fn value_end(
    bytes: &[u8],
    h: &Header,
    len: u32,
    start: usize,
) -> Result<usize, LayoutError> {
    let len = to_usize(u64::from(len), start)?;
    let end = h
        .value_offset
        .checked_add(len)
        .ok_or_else(|| truncated(start))?;
    if end > bytes.len() {
        return Err(truncated(start));
    }
    Ok(end)
}

/// Syntax of the items inside an undefined-length element.
/// Whether a defined-length element holds a sequence that a data set reader parses item by
/// item: its explicit VR is SQ, or, in implicit VR, the dictionary says SQ (as dicom-rs
/// decides).
pub(super) fn is_sequence(h: &Header) -> bool {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    match h.vr {
        Some(vr) => &vr == b"SQ",
        None => dicom_dictionary_std::StandardDataDictionary
            .by_tag(dicom_core::Tag(h.tag.0, h.tag.1))
            .is_some_and(|entry| entry.vr().relaxed() == dicom_core::VR::SQ),
    }
}

/// The VR dicom-rs gives an implicit VR element: OW for Pixel Data and Overlay Data, else the
/// dictionary's (in its relaxed form, US for "US or SS"), else UN.
pub(super) fn implicit_vr(tag: (u16, u16)) -> [u8; 2] {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    if tag == PIXEL_DATA || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return *b"OW";
    }
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(dicom_core::Tag(tag.0, tag.1))
        .and_then(|entry| entry.vr().relaxed().to_string().as_bytes().try_into().ok())
        .unwrap_or(*b"UN")
}

/// The size of one value of a binary VR whose length must be a multiple of it; for implicit
/// VR, of the VR dicom-rs reads the element as. dicom-rs reads `length / size` values and so,
/// when the length is not a multiple, fewer bytes than the length says: it then reads the
/// rest of the data set out of step with the walk (a group length of 15 bytes made it read
/// a 416 MB length three bytes early, found by the libFuzzer target `dicom_json`).
pub(super) fn value_size(h: &Header) -> Option<u32> {
    match &h.vr.unwrap_or_else(|| implicit_vr(h.tag)) {
        b"US" | b"SS" | b"OW" => Some(2),
        b"UL" | b"SL" | b"FL" | b"AT" | b"OF" | b"OL" => Some(4),
        b"FD" | b"OD" | b"OV" | b"SV" | b"UV" => Some(8),
        _ => None,
    }
}

pub(super) fn inner_syntax(h: &Header, syn: Syntax) -> Syntax {
    if h.vr == Some(*b"UN") {
        IMPLICIT_LE
    } else {
        syn
    }
}
