//! Byte-level layout of a DICOM Part 10 file, found without decoding values.
//!
//! [`walk`] scans the raw bytes of a DICOM file and records *where* things
//! are: the file meta information group, every top-level data element (tag,
//! VR, value offset and length) and the location of the top-level Pixel Data
//! (7FE0,0010), either as one native value or as the list of encapsulated
//! fragments. [`frame_ranges`] then turns that into the byte ranges holding
//! each frame, so that a single frame can later be served with an
//! object-store range GET without reading or parsing the whole object.
//!
//! Standards followed:
//!
//! * PS3.10 section 7.1 (DICOM File Meta Information): a 128-byte preamble,
//!   the `DICM` prefix and the group 0002 elements, always encoded in
//!   Explicit VR Little Endian; (0002,0010) selects the encoding of the rest.
//!   Files that start directly with `DICM` (no preamble) are accepted too.
//! * PS3.5 section 7.1 (data element encoding): explicit VR elements whose VR
//!   is OB, OD, OF, OL, OV, OW, SQ, SV, UC, UN, UR, UT or UV have two reserved
//!   bytes and a 32-bit length, other explicit VRs a 16-bit length; implicit
//!   VR elements always have a 32-bit length. Item and delimitation tags
//!   (FFFE,xxxx) never carry a VR.
//! * PS3.5 section 7.5 (nesting of data sets): sequences and items of defined
//!   or undefined length, ended by (FFFE,E00D) Item Delimitation and
//!   (FFFE,E0DD) Sequence Delimitation. Per PS3.5 section 6.2.2 the content of
//!   a UN element with undefined length is Implicit VR Little Endian.
//! * PS3.5 annex A.4 (encapsulated pixel data): a Basic Offset Table item
//!   (possibly empty) followed by one item per fragment, and the Extended
//!   Offset Table (7FE0,0001) with its lengths (7FE0,0002), both arrays of
//!   64-bit unsigned integers. All offsets are measured from the first byte
//!   of the item tag of the first fragment after the Basic Offset Table.
//!
//! The walker never panics: every read is bounds-checked and every offset
//! computation is checked, so any input yields either a layout or a
//! [`LayoutError`]. A Deflated Explicit VR Little Endian data set
//! (1.2.840.10008.1.2.1.99) is not inflated: only the file meta group is
//! reported for it.

use std::fmt;

/// How the data set after the file meta group is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetEncoding {
    /// Implicit VR Little Endian (1.2.840.10008.1.2).
    ImplicitLittle,
    /// Explicit VR Little Endian and every other (e.g. encapsulated) syntax.
    ExplicitLittle,
    /// Explicit VR Big Endian (1.2.840.10008.1.2.2, retired).
    ExplicitBig,
    /// Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99): not walked.
    Deflated,
}

/// Where one data element sits in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementLayout {
    /// (group, element).
    pub tag: (u16, u16),
    /// The two VR characters; `None` for implicit VR.
    pub vr: Option<[u8; 2]>,
    /// Offset in the file of the first byte of the value.
    pub value_offset: u64,
    /// Value length in bytes; `None` for undefined length (0xFFFFFFFF).
    pub value_length: Option<u64>,
}

/// One encapsulated pixel data fragment (an item after the Basic Offset Table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the (FFFE,E000) item tag.
    pub item_offset: u64,
    /// Offset of the first payload byte (`item_offset + 8`).
    pub value_offset: u64,
    /// Payload length in bytes.
    pub length: u64,
}

/// Location of the top-level Pixel Data (7FE0,0010).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PixelDataLayout {
    /// Native (uncompressed) pixel data: one value of defined length.
    Native { value_offset: u64, length: u64 },
    /// Encapsulated pixel data (PS3.5 A.4).
    Encapsulated {
        /// Basic Offset Table entries (empty when the table is empty).
        basic_offset_table: Vec<u32>,
        /// The fragments, excluding the Basic Offset Table item.
        fragments: Vec<Fragment>,
    },
}

/// The layout of a whole Part 10 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Layout {
    /// Whether the file starts with the 128-byte preamble.
    pub has_preamble: bool,
    /// First byte after the file meta group.
    pub dataset_offset: u64,
    /// (0002,0010) Transfer Syntax UID, trimmed of trailing NUL and space.
    pub transfer_syntax: String,
    /// Encoding of the data set as actually found: the transfer syntax's,
    /// except that a data set labelled explicit little endian whose first
    /// element has no valid VR is walked (and reported) as implicit VR.
    pub encoding: DatasetEncoding,
    /// The group 0002 elements.
    pub meta: Vec<ElementLayout>,
    /// Top-level data set elements in file order (empty when Deflated).
    pub elements: Vec<ElementLayout>,
    /// Top-level (7FE0,0010) only; `None` when Deflated or absent.
    pub pixel_data: Option<PixelDataLayout>,
}

/// Why a file could not be walked or framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// Neither a preamble followed by `DICM` nor a leading `DICM`.
    NotPart10,
    /// The data ends inside the structure starting at `offset`.
    Truncated { offset: u64 },
    /// The structure at `offset` breaks the encoding rules.
    Malformed { offset: u64, reason: &'static str },
    /// [`frame_ranges`] was asked for frames but the layout has no top-level
    /// Pixel Data (absent, or not located because the data set is deflated).
    NoPixelData,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NotPart10 => f.write_str("not a DICOM Part 10 file (no DICM prefix)"),
            LayoutError::Truncated { offset } => {
                write!(f, "DICOM data truncated (structure at byte {offset})")
            }
            LayoutError::Malformed { offset, reason } => {
                write!(f, "malformed DICOM data at byte {offset}: {reason}")
            }
            LayoutError::NoPixelData => f.write_str("no locatable top-level pixel data"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Transfer syntax UIDs with a special data set encoding.
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// Explicit VR Big Endian (retired).
pub const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
/// Deflated Explicit VR Little Endian.
pub const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1.99";

/// Maximum nesting of sequences before the data is declared malformed.
pub const MAX_SEQUENCE_DEPTH: usize = 64;

const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
const EXTENDED_OFFSET_TABLE: (u16, u16) = (0x7FE0, 0x0001);
const EXTENDED_OFFSET_TABLE_LENGTHS: (u16, u16) = (0x7FE0, 0x0002);
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_DELIMITATION: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_DELIMITATION: (u16, u16) = (0xFFFE, 0xE0DD);
const TRANSFER_SYNTAX_UID: (u16, u16) = (0x0002, 0x0010);
const FILE_META_GROUP_LENGTH: (u16, u16) = (0x0002, 0x0000);
const UNDEFINED_LENGTH: u32 = 0xFFFF_FFFF;
const PREAMBLE_LEN: usize = 128;

/// VRs with two reserved bytes and a 32-bit length in explicit VR (PS3.5 7.1.2).
const LONG_VRS: [&[u8; 2]; 13] = [
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV",
];

/// Every VR defined by PS3.5 6.2, used to detect a data set that is
/// encoded in implicit VR although its transfer syntax says explicit.
const KNOWN_VRS: [&[u8; 2]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// Codec start markers used to find frame boundaries without offset tables:
/// JPEG / JPEG-LS SOI, JPEG 2000 codestream SOC+SIZ, JP2 signature box.
const FRAME_START_MARKERS: [&[u8]; 3] = [
    &[0xFF, 0xD8],
    &[0xFF, 0x4F, 0xFF, 0x51],
    &[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20],
];

/// Byte order and VR explicitness of the part of the file being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Syntax {
    explicit: bool,
    big: bool,
}

const EXPLICIT_LE: Syntax = Syntax {
    explicit: true,
    big: false,
};
const IMPLICIT_LE: Syntax = Syntax {
    explicit: false,
    big: false,
};

/// A parsed element (or item/delimiter) header.
#[derive(Debug, Clone, Copy)]
struct Header {
    tag: (u16, u16),
    vr: Option<[u8; 2]>,
    /// Offset of the first value byte.
    value_offset: usize,
    /// `None` for undefined length.
    length: Option<u32>,
}

fn off(x: usize) -> u64 {
    x as u64
}

fn truncated(offset: usize) -> LayoutError {
    LayoutError::Truncated {
        offset: off(offset),
    }
}

fn malformed(offset: usize, reason: &'static str) -> LayoutError {
    LayoutError::Malformed {
        offset: off(offset),
        reason,
    }
}

fn slice_at(bytes: &[u8], pos: usize, len: usize) -> Option<&[u8]> {
    bytes.get(pos..pos.checked_add(len)?)
}

fn u16_at(bytes: &[u8], pos: usize, big: bool) -> Option<u16> {
    let a: [u8; 2] = slice_at(bytes, pos, 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

fn u32_at(bytes: &[u8], pos: usize, big: bool) -> Option<u32> {
    let a: [u8; 4] = slice_at(bytes, pos, 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn u64_at(bytes: &[u8], pos: usize, big: bool) -> Option<u64> {
    let a: [u8; 8] = slice_at(bytes, pos, 8)?.try_into().ok()?;
    Some(if big {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    })
}

fn to_usize(x: u64, offset: usize) -> Result<usize, LayoutError> {
    usize::try_from(x).map_err(|_| truncated(offset))
}

/// Reads the element header at `pos`.
fn read_header(bytes: &[u8], pos: usize, syn: Syntax) -> Result<Header, LayoutError> {
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
fn value_end(bytes: &[u8], h: &Header, len: u32, start: usize) -> Result<usize, LayoutError> {
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
fn inner_syntax(h: &Header, syn: Syntax) -> Syntax {
    if h.vr == Some(*b"UN") {
        IMPLICIT_LE
    } else {
        syn
    }
}

/// Skips the items of an undefined-length sequence starting at `pos`;
/// returns the offset after the (FFFE,E0DD) sequence delimiter.
fn skip_items(
    bytes: &[u8],
    mut pos: usize,
    syn: Syntax,
    depth: usize,
) -> Result<usize, LayoutError> {
    if depth > MAX_SEQUENCE_DEPTH {
        return Err(malformed(pos, "sequences nested too deeply"));
    }
    loop {
        let h = read_header(
            bytes,
            pos,
            Syntax {
                explicit: false,
                ..syn
            },
        )?;
        match (h.tag, h.length) {
            (SEQUENCE_DELIMITATION, _) => return Ok(h.value_offset),
            (ITEM, Some(len)) => pos = value_end(bytes, &h, len, pos)?,
            (ITEM, None) => pos = skip_item_dataset(bytes, h.value_offset, syn, depth)?,
            _ => return Err(malformed(pos, "expected item or sequence delimiter")),
        }
    }
}

/// Walks the elements of an undefined-length item; returns the offset after
/// its (FFFE,E00D) item delimiter.
fn skip_item_dataset(
    bytes: &[u8],
    mut pos: usize,
    syn: Syntax,
    depth: usize,
) -> Result<usize, LayoutError> {
    loop {
        let h = read_header(bytes, pos, syn)?;
        if h.tag == ITEM_DELIMITATION {
            return Ok(h.value_offset);
        }
        if h.tag.0 == 0xFFFE {
            return Err(malformed(pos, "unexpected delimiter inside item"));
        }
        pos = match h.length {
            Some(len) => value_end(bytes, &h, len, pos)?,
            None => skip_items(
                bytes,
                h.value_offset,
                inner_syntax(&h, syn),
                depth.saturating_add(1),
            )?,
        };
    }
}

/// Parses encapsulated pixel data (PS3.5 A.4) starting at the Basic Offset
/// Table item; returns the layout and the offset after the sequence delimiter.
fn parse_encapsulated(
    bytes: &[u8],
    start: usize,
    syn: Syntax,
) -> Result<(PixelDataLayout, usize), LayoutError> {
    let item_syn = Syntax {
        explicit: false,
        ..syn
    };
    let bot = read_header(bytes, start, item_syn)?;
    if bot.tag != ITEM {
        return Err(malformed(
            start,
            "encapsulated pixel data without offset table item",
        ));
    }
    let bot_len = bot
        .length
        .ok_or_else(|| malformed(start, "undefined length offset table"))?;
    if bot_len % 4 != 0 {
        return Err(malformed(
            start,
            "basic offset table length not a multiple of 4",
        ));
    }
    let mut pos = value_end(bytes, &bot, bot_len, start)?;
    let table = bytes
        .get(bot.value_offset..pos)
        .ok_or_else(|| truncated(start))?;
    let basic_offset_table = table
        .chunks_exact(4)
        .filter_map(|c| u32_at(c, 0, syn.big))
        .collect();

    let mut fragments = Vec::new();
    loop {
        let h = read_header(bytes, pos, item_syn)?;
        match (h.tag, h.length) {
            (SEQUENCE_DELIMITATION, _) => {
                return Ok((
                    PixelDataLayout::Encapsulated {
                        basic_offset_table,
                        fragments,
                    },
                    h.value_offset,
                ))
            }
            (ITEM, Some(len)) => {
                let end = value_end(bytes, &h, len, pos)?;
                fragments.push(Fragment {
                    item_offset: off(pos),
                    value_offset: off(h.value_offset),
                    length: u64::from(len),
                });
                pos = end;
            }
            (ITEM, None) => return Err(malformed(pos, "undefined length pixel data fragment")),
            _ => {
                return Err(malformed(
                    pos,
                    "expected fragment item or sequence delimiter",
                ))
            }
        }
    }
}

fn encoding_for(transfer_syntax: &str) -> DatasetEncoding {
    match transfer_syntax {
        IMPLICIT_VR_LITTLE_ENDIAN => DatasetEncoding::ImplicitLittle,
        EXPLICIT_VR_BIG_ENDIAN => DatasetEncoding::ExplicitBig,
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => DatasetEncoding::Deflated,
        _ => DatasetEncoding::ExplicitLittle,
    }
}

fn syntax_for(encoding: DatasetEncoding) -> Syntax {
    match encoding {
        DatasetEncoding::ImplicitLittle => IMPLICIT_LE,
        DatasetEncoding::ExplicitBig => Syntax {
            explicit: true,
            big: true,
        },
        DatasetEncoding::ExplicitLittle | DatasetEncoding::Deflated => EXPLICIT_LE,
    }
}

fn element_layout(h: &Header) -> ElementLayout {
    ElementLayout {
        tag: h.tag,
        vr: h.vr,
        value_offset: off(h.value_offset),
        value_length: h.length.map(u64::from),
    }
}

/// Walks a DICOM Part 10 file and records where its elements are.
pub fn walk(bytes: &[u8]) -> Result<Part10Layout, LayoutError> {
    let (has_preamble, meta_start) =
        if bytes.get(PREAMBLE_LEN..PREAMBLE_LEN + 4) == Some(b"DICM".as_slice()) {
            (true, PREAMBLE_LEN + 4)
        } else if bytes.get(..4) == Some(b"DICM".as_slice()) {
            (false, 4)
        } else {
            return Err(LayoutError::NotPart10);
        };

    // File meta information: explicit VR little endian, group 0002.
    let mut meta = Vec::new();
    let mut group_end: Option<usize> = None;
    let mut transfer_syntax: Option<String> = None;
    let mut pos = meta_start;
    loop {
        if let Some(end) = group_end {
            if pos < end && pos >= bytes.len() {
                return Err(truncated(pos));
            }
            // Trust the group length for deflated data, whose compressed
            // bytes could look like a group 0002 tag; otherwise tolerate a
            // wrong group length by reading on while the group is 0002.
            let deflated = transfer_syntax.as_deref() == Some(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
            if pos >= end && deflated {
                break;
            }
        }
        if pos >= bytes.len() {
            break;
        }
        let group = u16_at(bytes, pos, false).ok_or_else(|| truncated(pos))?;
        if group != 0x0002 {
            break;
        }
        let h = read_header(bytes, pos, EXPLICIT_LE)?;
        let len = h
            .length
            .ok_or_else(|| malformed(pos, "undefined length in file meta group"))?;
        let end = value_end(bytes, &h, len, pos)?;
        let value = bytes
            .get(h.value_offset..end)
            .ok_or_else(|| truncated(pos))?;
        if h.tag == FILE_META_GROUP_LENGTH && group_end.is_none() {
            if let Ok(v) = <[u8; 4]>::try_from(value) {
                let gl = to_usize(u64::from(u32::from_le_bytes(v)), pos)?;
                group_end = Some(end.checked_add(gl).ok_or_else(|| truncated(pos))?);
            }
        } else if h.tag == TRANSFER_SYNTAX_UID {
            let text = std::str::from_utf8(value)
                .map_err(|_| malformed(pos, "transfer syntax UID is not text"))?;
            let text = text.trim_end_matches(['\0', ' ']).trim_start_matches(' ');
            transfer_syntax = Some(text.to_owned());
        }
        meta.push(element_layout(&h));
        pos = end;
    }
    let dataset_offset = pos;
    let transfer_syntax = transfer_syntax.ok_or_else(|| {
        if pos >= bytes.len() {
            truncated(pos)
        } else {
            malformed(meta_start, "missing transfer syntax UID")
        }
    })?;
    let encoding = encoding_for(&transfer_syntax);

    let mut layout = Part10Layout {
        has_preamble,
        dataset_offset: off(dataset_offset),
        transfer_syntax,
        encoding,
        meta,
        elements: Vec::new(),
        pixel_data: None,
    };
    if encoding == DatasetEncoding::Deflated {
        return Ok(layout);
    }

    let mut syn = syntax_for(encoding);
    // Some writers label an Implicit VR Little Endian data set with an
    // explicit little endian transfer syntax; like pydicom and DCMTK, look
    // at the first element and fall back to implicit VR when it has no VR.
    if encoding == DatasetEncoding::ExplicitLittle {
        let vr = slice_at(bytes, pos.saturating_add(4), 2);
        let group = u16_at(bytes, pos, false);
        if let (Some(vr), Some(group)) = (vr, group) {
            if group != 0xFFFE && !KNOWN_VRS.iter().any(|k| k.as_slice() == vr) {
                syn = IMPLICIT_LE;
                layout.encoding = DatasetEncoding::ImplicitLittle;
            }
        }
    }
    while pos < bytes.len() {
        let h = read_header(bytes, pos, syn)?;
        if h.tag.0 == 0xFFFE {
            return Err(malformed(pos, "item or delimiter tag at top level"));
        }
        let end = match h.length {
            Some(len) => {
                let end = value_end(bytes, &h, len, pos)?;
                if h.tag == PIXEL_DATA && layout.pixel_data.is_none() {
                    layout.pixel_data = Some(PixelDataLayout::Native {
                        value_offset: off(h.value_offset),
                        length: u64::from(len),
                    });
                }
                end
            }
            None if h.tag == PIXEL_DATA && layout.pixel_data.is_none() => {
                let (pd, end) = parse_encapsulated(bytes, h.value_offset, syn)?;
                layout.pixel_data = Some(pd);
                end
            }
            None => skip_items(bytes, h.value_offset, inner_syntax(&h, syn), 1)?,
        };
        layout.elements.push(element_layout(&h));
        pos = end;
    }
    Ok(layout)
}

/// The first top-level element with `tag`, if any.
pub fn find_element(layout: &Part10Layout, tag: (u16, u16)) -> Option<&ElementLayout> {
    layout.elements.iter().find(|e| e.tag == tag)
}

/// The value bytes of a defined-length element, if they lie within `bytes`.
pub fn element_value<'a>(bytes: &'a [u8], element: &ElementLayout) -> Option<&'a [u8]> {
    let start = usize::try_from(element.value_offset).ok()?;
    let len = usize::try_from(element.value_length?).ok()?;
    slice_at(bytes, start, len)
}

fn is_big(layout: &Part10Layout) -> bool {
    layout.encoding == DatasetEncoding::ExplicitBig
}

/// Reads a top-level US value; `Ok(None)` when the element is absent.
fn read_us(
    layout: &Part10Layout,
    bytes: &[u8],
    tag: (u16, u16),
) -> Result<Option<u16>, LayoutError> {
    let Some(el) = find_element(layout, tag) else {
        return Ok(None);
    };
    let at = usize::try_from(el.value_offset).unwrap_or(usize::MAX);
    let value = element_value(bytes, el).ok_or_else(|| truncated(at))?;
    u16_at(value, 0, is_big(layout))
        .map(Some)
        .ok_or_else(|| malformed(at, "US value shorter than 2 bytes"))
}

/// Number of Frames (0028,0008) of the top-level data set; 1 when absent
/// or empty.
pub fn number_of_frames(layout: &Part10Layout, bytes: &[u8]) -> Result<u32, LayoutError> {
    let Some(el) = find_element(layout, (0x0028, 0x0008)) else {
        return Ok(1);
    };
    let at = usize::try_from(el.value_offset).unwrap_or(usize::MAX);
    let value = element_value(bytes, el).ok_or_else(|| truncated(at))?;
    let text = std::str::from_utf8(value)
        .map_err(|_| malformed(at, "Number of Frames is not text"))?
        .trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(1);
    }
    text.trim_start_matches('+')
        .parse::<u32>()
        .map_err(|_| malformed(at, "Number of Frames is not an unsigned integer"))
}

/// Frame length of native pixel data from Rows, Columns, Samples per Pixel
/// and Bits Allocated; an error when a frame is not a whole number of bytes.
pub fn native_frame_length(layout: &Part10Layout, bytes: &[u8]) -> Result<u64, LayoutError> {
    let at = usize::try_from(layout.dataset_offset).unwrap_or(usize::MAX);
    let get = |tag, what| -> Result<u64, LayoutError> {
        read_us(layout, bytes, tag)?
            .map(u64::from)
            .ok_or_else(|| malformed(at, what))
    };
    let rows = get((0x0028, 0x0010), "missing Rows")?;
    let columns = get((0x0028, 0x0011), "missing Columns")?;
    let samples = get((0x0028, 0x0002), "missing Samples per Pixel")?;
    let bits = get((0x0028, 0x0100), "missing Bits Allocated")?;
    let total_bits = rows
        .checked_mul(columns)
        .and_then(|x| x.checked_mul(samples))
        .and_then(|x| x.checked_mul(bits))
        .ok_or_else(|| malformed(at, "frame size overflows"))?;
    if total_bits % 8 != 0 {
        return Err(malformed(at, "frame is not a whole number of bytes"));
    }
    Ok(total_bits / 8)
}

/// Reads a top-level array of 64-bit unsigned integers (OV).
fn read_u64_array(
    layout: &Part10Layout,
    bytes: &[u8],
    el: &ElementLayout,
) -> Result<Vec<u64>, LayoutError> {
    let at = usize::try_from(el.value_offset).unwrap_or(usize::MAX);
    let value = element_value(bytes, el).ok_or_else(|| truncated(at))?;
    if value.len() % 8 != 0 {
        return Err(malformed(at, "64-bit array length not a multiple of 8"));
    }
    let big = is_big(layout);
    Ok((0..value.len() / 8)
        .filter_map(|i| u64_at(value, i.saturating_mul(8), big))
        .collect())
}

/// Groups fragments into frames by offsets relative to the first fragment's
/// item tag; each frame takes the fragments whose item tag lies in
/// `[start, next start)`. Returns fragment index ranges.
fn group_by_offsets(
    fragments: &[Fragment],
    offsets: &[u64],
    at: usize,
) -> Result<Vec<std::ops::Range<usize>>, LayoutError> {
    let base = fragments
        .first()
        .map(|f| f.item_offset)
        .ok_or_else(|| malformed(at, "no fragments"))?;
    if offsets.first() != Some(&0) {
        return Err(malformed(
            at,
            "offset table does not start at the first fragment",
        ));
    }
    let mut starts = Vec::with_capacity(offsets.len());
    let mut next = 0usize;
    for &o in offsets {
        let abs = base
            .checked_add(o)
            .ok_or_else(|| malformed(at, "offset overflows"))?;
        let idx = fragments
            .get(next..)
            .and_then(|rest| rest.iter().position(|f| f.item_offset == abs))
            .and_then(|p| p.checked_add(next))
            .ok_or_else(|| malformed(at, "offset does not point at a fragment in order"))?;
        starts.push(idx);
        next = idx.saturating_add(1);
    }
    Ok(starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            s..starts
                .get(i.saturating_add(1))
                .copied()
                .unwrap_or(fragments.len())
        })
        .collect())
}

fn starts_with_marker(bytes: &[u8], f: &Fragment) -> bool {
    let Ok(start) = usize::try_from(f.value_offset) else {
        return false;
    };
    let Ok(len) = usize::try_from(f.length) else {
        return false;
    };
    let Some(payload) = slice_at(bytes, start, len) else {
        return false;
    };
    FRAME_START_MARKERS.iter().any(|m| payload.starts_with(m))
}

/// Byte ranges `(offset, length)` in the file holding each frame.
///
/// Native pixel data: one range per frame of `native_frame_length` bytes
/// (or, when `None`, Rows × Columns × Samples per Pixel × Bits Allocated / 8
/// read from the data set; an error when that is not a whole number of
/// bytes). Encapsulated pixel data: the fragment payload ranges making up
/// each frame, found in this order from the Extended Offset Table, one
/// fragment per frame, all fragments for a single frame, the Basic Offset
/// Table, or codec start markers. Inconsistent frame counts are errors.
pub fn frame_ranges(
    layout: &Part10Layout,
    bytes: &[u8],
    number_of_frames: u32,
    native_frame_length: Option<u64>,
) -> Result<Vec<Vec<(u64, u64)>>, LayoutError> {
    let pixel_data = layout.pixel_data.as_ref().ok_or(LayoutError::NoPixelData)?;
    let at = usize::try_from(layout.dataset_offset).unwrap_or(usize::MAX);
    if number_of_frames == 0 {
        return Err(malformed(at, "number of frames is zero"));
    }
    let n = to_usize(u64::from(number_of_frames), at)?;
    let file_len = off(bytes.len());
    match pixel_data {
        PixelDataLayout::Native {
            value_offset,
            length,
        } => {
            let at = usize::try_from(*value_offset).unwrap_or(usize::MAX);
            let frame_len = match native_frame_length {
                Some(l) => l,
                None => self::native_frame_length(layout, bytes)?,
            };
            if frame_len == 0 {
                return Err(malformed(at, "frame length is zero"));
            }
            let total = frame_len
                .checked_mul(u64::from(number_of_frames))
                .ok_or_else(|| malformed(at, "pixel data size overflows"))?;
            if total > *length {
                return Err(malformed(at, "pixel data shorter than the frames"));
            }
            match value_offset.checked_add(total) {
                Some(end) if end <= file_len => {}
                _ => return Err(truncated(at)),
            }
            Ok((0..u64::from(number_of_frames))
                .map(|i| {
                    // Cannot overflow: value_offset + total was checked above.
                    let start = i
                        .checked_mul(frame_len)
                        .and_then(|o| value_offset.checked_add(o))
                        .unwrap_or(u64::MAX);
                    vec![(start, frame_len)]
                })
                .collect())
        }
        PixelDataLayout::Encapsulated {
            basic_offset_table,
            fragments,
        } => {
            let at = fragments
                .first()
                .and_then(|f| usize::try_from(f.item_offset).ok())
                .unwrap_or(at);
            for f in fragments {
                match f.value_offset.checked_add(f.length) {
                    Some(end) if end <= file_len => {}
                    _ => return Err(truncated(at)),
                }
            }
            if fragments.len() < n {
                return Err(malformed(at, "fewer fragments than frames"));
            }
            let ranges_of = |r: std::ops::Range<usize>| -> Vec<(u64, u64)> {
                fragments
                    .get(r)
                    .unwrap_or_default()
                    .iter()
                    .map(|f| (f.value_offset, f.length))
                    .collect()
            };

            let eot = find_element(layout, EXTENDED_OFFSET_TABLE);
            let eot_lengths = find_element(layout, EXTENDED_OFFSET_TABLE_LENGTHS);
            if let (Some(eot), Some(eot_lengths)) = (eot, eot_lengths) {
                let offsets = read_u64_array(layout, bytes, eot)?;
                let lengths = read_u64_array(layout, bytes, eot_lengths)?;
                if offsets.len() != n || lengths.len() != n {
                    return Err(malformed(
                        at,
                        "extended offset table size != number of frames",
                    ));
                }
                let groups = group_by_offsets(fragments, &offsets, at)?;
                return groups
                    .into_iter()
                    .zip(lengths)
                    .map(|(g, frame_len)| trim_to(ranges_of(g), frame_len, at))
                    .collect();
            }
            if fragments.len() == n {
                return Ok((0..n).map(|i| ranges_of(i..i.saturating_add(1))).collect());
            }
            if n == 1 {
                return Ok(vec![ranges_of(0..fragments.len())]);
            }
            if !basic_offset_table.is_empty() {
                if basic_offset_table.len() != n {
                    return Err(malformed(at, "basic offset table size != number of frames"));
                }
                let offsets: Vec<u64> = basic_offset_table.iter().map(|&o| u64::from(o)).collect();
                let groups = group_by_offsets(fragments, &offsets, at)?;
                return Ok(groups.into_iter().map(ranges_of).collect());
            }
            let starts: Vec<usize> = fragments
                .iter()
                .enumerate()
                .filter(|(_, f)| starts_with_marker(bytes, f))
                .map(|(i, _)| i)
                .collect();
            if starts.len() == n && starts.first() == Some(&0) {
                return Ok(starts
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| {
                        let e = starts
                            .get(i.saturating_add(1))
                            .copied()
                            .unwrap_or(fragments.len());
                        ranges_of(s..e)
                    })
                    .collect());
            }
            Err(malformed(
                at,
                "cannot determine frame boundaries of encapsulated pixel data",
            ))
        }
    }
}

/// Cuts a frame's ranges down to `frame_len` bytes (the Extended Offset
/// Table length excludes the trailing padding of the last fragment).
fn trim_to(
    ranges: Vec<(u64, u64)>,
    frame_len: u64,
    at: usize,
) -> Result<Vec<(u64, u64)>, LayoutError> {
    let mut left = frame_len;
    let mut out = Vec::with_capacity(ranges.len());
    for (o, l) in ranges {
        if left == 0 {
            break;
        }
        let take = l.min(left);
        out.push((o, take));
        left = left.saturating_sub(take);
    }
    if left > 0 {
        return Err(malformed(
            at,
            "extended offset table length exceeds the frame's fragments",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little helper that writes data set bytes in a given encoding.
    struct W {
        buf: Vec<u8>,
        explicit: bool,
        big: bool,
    }

    impl W {
        fn new(explicit: bool, big: bool) -> Self {
            W {
                buf: Vec::new(),
                explicit,
                big,
            }
        }
        fn u16(&mut self, v: u16) -> &mut Self {
            let b = if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.buf.extend_from_slice(&b);
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            let b = if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.buf.extend_from_slice(&b);
            self
        }
        /// Element header with a defined length.
        fn head(&mut self, g: u16, e: u16, vr: &[u8; 2], len: u32) -> &mut Self {
            self.u16(g).u16(e);
            if self.explicit {
                self.buf.extend_from_slice(vr);
                if LONG_VRS.contains(&vr) {
                    self.buf.extend_from_slice(&[0, 0]);
                    self.u32(len);
                } else {
                    self.u16(len as u16);
                }
            } else {
                self.u32(len);
            }
            self
        }
        fn el(&mut self, g: u16, e: u16, vr: &[u8; 2], val: &[u8]) -> &mut Self {
            self.head(g, e, vr, val.len() as u32);
            self.buf.extend_from_slice(val);
            self
        }
        fn us(&mut self, g: u16, e: u16, v: u16) -> &mut Self {
            let b = if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.el(g, e, b"US", &b)
        }
        fn undef(&mut self, g: u16, e: u16, vr: &[u8; 2]) -> &mut Self {
            self.head(g, e, vr, UNDEFINED_LENGTH)
        }
        fn item(&mut self, len: u32) -> &mut Self {
            self.u16(0xFFFE).u16(0xE000).u32(len)
        }
        fn item_end(&mut self) -> &mut Self {
            self.u16(0xFFFE).u16(0xE00D).u32(0)
        }
        fn seq_end(&mut self) -> &mut Self {
            self.u16(0xFFFE).u16(0xE0DD).u32(0)
        }
        fn raw(&mut self, b: &[u8]) -> &mut Self {
            self.buf.extend_from_slice(b);
            self
        }
    }

    fn meta(ts: &str, preamble: bool, group_length: bool) -> Vec<u8> {
        let mut uid = ts.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        let mut body = W::new(true, false);
        body.el(0x0002, 0x0001, b"OB", &[0, 1])
            .el(0x0002, 0x0010, b"UI", &uid);
        let mut out = Vec::new();
        if preamble {
            out.extend_from_slice(&[0u8; 128]);
        }
        out.extend_from_slice(b"DICM");
        if group_length {
            let mut gl = W::new(true, false);
            gl.el(
                0x0002,
                0x0000,
                b"UL",
                &(body.buf.len() as u32).to_le_bytes(),
            );
            out.extend_from_slice(&gl.buf);
        }
        out.extend_from_slice(&body.buf);
        out
    }

    fn file(ts: &str, dataset: &[u8]) -> Vec<u8> {
        let mut f = meta(ts, true, true);
        f.extend_from_slice(dataset);
        f
    }

    fn tags(l: &Part10Layout) -> Vec<(u16, u16)> {
        l.elements.iter().map(|e| e.tag).collect()
    }

    const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

    /// Explicit LE data set with 2 frames of 2x2x1 8-bit native pixel data.
    fn explicit_native() -> Vec<u8> {
        let mut w = W::new(true, false);
        w.el(0x0008, 0x0060, b"CS", b"MR")
            .us(0x0028, 0x0002, 1)
            .el(0x0028, 0x0008, b"IS", b"2 ")
            .us(0x0028, 0x0010, 2)
            .us(0x0028, 0x0011, 2)
            .us(0x0028, 0x0100, 8)
            .el(0x7FE0, 0x0010, b"OB", &[1, 2, 3, 4, 5, 6, 7, 8]);
        file("1.2.840.10008.1.2.1", &w.buf)
    }

    #[test]
    fn explicit_little_native() {
        let f = explicit_native();
        let l = walk(&f).unwrap();
        assert!(l.has_preamble);
        assert_eq!(l.encoding, DatasetEncoding::ExplicitLittle);
        assert_eq!(l.transfer_syntax, "1.2.840.10008.1.2.1");
        assert_eq!(
            l.meta.iter().map(|e| e.tag).collect::<Vec<_>>(),
            vec![(2, 0), (2, 1), (2, 0x10)]
        );
        assert_eq!(l.meta[1].vr, Some(*b"OB"));
        assert_eq!(l.meta[1].value_offset, 132 + 12 + 12);
        assert_eq!(tags(&l).len(), 7);
        let pd_off = f.len() as u64 - 8;
        assert_eq!(
            l.pixel_data,
            Some(PixelDataLayout::Native {
                value_offset: pd_off,
                length: 8
            })
        );
        let cs = &l.elements[0];
        assert_eq!(cs.vr, Some(*b"CS"));
        assert_eq!(element_value(&f, cs), Some(b"MR".as_slice()));
        assert_eq!(number_of_frames(&l, &f), Ok(2));
        assert_eq!(native_frame_length(&l, &f), Ok(4));
        let r = frame_ranges(&l, &f, 2, None).unwrap();
        assert_eq!(r, vec![vec![(pd_off, 4)], vec![(pd_off + 4, 4)]]);
        assert_eq!(
            frame_ranges(&l, &f, 1, Some(8)).unwrap(),
            vec![vec![(pd_off, 8)]]
        );
        // Too many frames for the pixel data.
        assert!(matches!(
            frame_ranges(&l, &f, 3, None),
            Err(LayoutError::Malformed { .. })
        ));
        assert!(frame_ranges(&l, &f, 0, None).is_err());
    }

    #[test]
    fn no_preamble_and_no_group_length() {
        let mut w = W::new(true, false);
        w.el(0x0008, 0x0060, b"CS", b"CT");
        let mut f = meta("1.2.840.10008.1.2.1", false, false);
        let ds = f.len() as u64;
        f.extend_from_slice(&w.buf);
        let l = walk(&f).unwrap();
        assert!(!l.has_preamble);
        assert_eq!(l.dataset_offset, ds);
        assert_eq!(l.meta.len(), 2);
        assert_eq!(tags(&l), vec![(0x0008, 0x0060)]);
        assert_eq!(l.pixel_data, None);
        assert_eq!(frame_ranges(&l, &f, 1, None), Err(LayoutError::NoPixelData));
    }

    #[test]
    fn transfer_syntax_trimmed_and_meta_only_file() {
        let f = meta("1.2.840.10008.1.2", true, true);
        let l = walk(&f).unwrap();
        assert_eq!(l.transfer_syntax, "1.2.840.10008.1.2");
        assert_eq!(l.encoding, DatasetEncoding::ImplicitLittle);
        assert_eq!(l.dataset_offset, f.len() as u64);
        assert!(l.elements.is_empty());
    }

    #[test]
    fn not_part10() {
        assert_eq!(walk(&[]), Err(LayoutError::NotPart10));
        assert_eq!(walk(b"DIC"), Err(LayoutError::NotPart10));
        assert_eq!(walk(&[0u8; 300]), Err(LayoutError::NotPart10));
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICX");
        assert_eq!(walk(&f), Err(LayoutError::NotPart10));
        // A raw data set without meta information.
        let mut w = W::new(true, false);
        w.el(0x0008, 0x0060, b"CS", b"MR");
        assert_eq!(walk(&w.buf), Err(LayoutError::NotPart10));
        assert!(!LayoutError::NotPart10.to_string().is_empty());
    }

    #[test]
    fn missing_transfer_syntax_is_malformed() {
        let mut f = b"DICM".to_vec();
        let mut w = W::new(true, false);
        w.el(0x0002, 0x0001, b"OB", &[0, 1]);
        f.extend_from_slice(&w.buf);
        // Ending inside the meta group is truncation ...
        assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
        // ... a data set following a meta group without (0002,0010) is not.
        let mut w = W::new(true, false);
        w.el(0x0008, 0x0060, b"CS", b"MR");
        f.extend_from_slice(&w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
    }

    #[test]
    fn deflated_is_not_walked() {
        let mut f = file(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, &[]);
        let ds = f.len() as u64;
        // Compressed bytes that happen to look like a group 0002 tag.
        f.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, 0xAB, 0xCD, 0xEF]);
        let l = walk(&f).unwrap();
        assert_eq!(l.encoding, DatasetEncoding::Deflated);
        assert_eq!(l.dataset_offset, ds);
        assert!(l.elements.is_empty());
        assert_eq!(l.pixel_data, None);
        assert_eq!(frame_ranges(&l, &f, 1, None), Err(LayoutError::NoPixelData));
    }

    /// Implicit VR LE with nested undefined-length sequences and items,
    /// a defined-length item and a defined-length sequence.
    fn implicit_nested() -> Vec<u8> {
        let mut w = W::new(false, false);
        w.el(0x0008, 0x0016, b"UI", b"1.2\0");
        // (0008,1140) undefined length sequence
        w.undef(0x0008, 0x1140, b"SQ");
        //   item 1: undefined length, holding a nested undefined sequence
        w.item(UNDEFINED_LENGTH)
            .el(0x0008, 0x1150, b"UI", b"1.3\0")
            .undef(0x0040, 0xA730, b"SQ")
            .item(UNDEFINED_LENGTH)
            .el(0x0040, 0xA040, b"CS", b"TEXT")
            .item_end()
            .item(4)
            .raw(&[9, 9, 9, 9])
            .seq_end()
            .item_end();
        //   item 2: defined length (contents skipped)
        w.item(10)
            .raw(&[0x08, 0x00, 0x50, 0x11, 2, 0, 0, 0, b'1', 0])
            .seq_end();
        // Defined-length sequence, skipped by length.
        w.head(0x0040, 0x0275, b"SQ", 16)
            .item(8)
            .raw(&[0x40, 0x00, 0x07, 0x00, 0, 0, 0, 0]);
        w.us(0x0028, 0x0002, 1)
            .us(0x0028, 0x0010, 1)
            .us(0x0028, 0x0011, 3)
            .us(0x0028, 0x0100, 16)
            .el(0x7FE0, 0x0010, b"OW", &[1, 0, 2, 0, 3, 0])
            .el(0xFFFC, 0xFFFC, b"OB", &[0, 0, 0, 0]);
        file(IMPLICIT_VR_LITTLE_ENDIAN, &w.buf)
    }

    #[test]
    fn implicit_nested_sequences() {
        let f = implicit_nested();
        let l = walk(&f).unwrap();
        assert_eq!(l.encoding, DatasetEncoding::ImplicitLittle);
        assert_eq!(
            tags(&l),
            vec![
                (0x0008, 0x0016),
                (0x0008, 0x1140),
                (0x0040, 0x0275),
                (0x0028, 0x0002),
                (0x0028, 0x0010),
                (0x0028, 0x0011),
                (0x0028, 0x0100),
                (0x7FE0, 0x0010),
                (0xFFFC, 0xFFFC)
            ]
        );
        assert!(l.elements.iter().all(|e| e.vr.is_none()));
        assert_eq!(l.elements[1].value_length, None);
        assert_eq!(l.elements[2].value_length, Some(16));
        let pd_off = f.len() as u64 - 12 - 6;
        assert_eq!(
            l.pixel_data,
            Some(PixelDataLayout::Native {
                value_offset: pd_off,
                length: 6
            })
        );
        assert_eq!(
            frame_ranges(&l, &f, 1, None).unwrap(),
            vec![vec![(pd_off, 6)]]
        );
    }

    #[test]
    fn explicit_nested_sequences_and_un() {
        let mut w = W::new(true, false);
        w.undef(0x0008, 0x1140, b"SQ")
            .item(UNDEFINED_LENGTH)
            .undef(0x0040, 0xA730, b"SQ")
            .item(UNDEFINED_LENGTH)
            .el(0x0040, 0xA040, b"CS", b"TEXT")
            .el(0x0040, 0xA043, b"OB", &[1, 2])
            .item_end()
            .seq_end()
            .item_end()
            .item(0)
            .seq_end();
        // UN with undefined length: content is implicit VR little endian.
        w.undef(0x0009, 0x1010, b"UN");
        let mut inner = W::new(false, false);
        inner
            .item(UNDEFINED_LENGTH)
            .el(0x0009, 0x1011, b"LO", b"ABCD")
            .undef(0x0009, 0x1012, b"SQ")
            .item(UNDEFINED_LENGTH)
            .item_end()
            .seq_end()
            .item_end()
            .seq_end();
        w.raw(&inner.buf);
        // Undefined-length pixel data nested in a sequence is skipped as items.
        w.undef(0x0088, 0x0200, b"SQ")
            .item(UNDEFINED_LENGTH)
            .undef(0x7FE0, 0x0010, b"OB")
            .item(0)
            .item(2)
            .raw(&[0xFF, 0xD8])
            .seq_end()
            .item_end()
            .seq_end();
        w.el(0x0010, 0x0010, b"PN", b"Doe^J ");
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        let l = walk(&f).unwrap();
        assert_eq!(
            tags(&l),
            vec![
                (0x0008, 0x1140),
                (0x0009, 0x1010),
                (0x0088, 0x0200),
                (0x0010, 0x0010)
            ]
        );
        assert_eq!(l.elements[1].vr, Some(*b"UN"));
        assert_eq!(
            element_value(&f, &l.elements[3]),
            Some(b"Doe^J ".as_slice())
        );
        assert_eq!(l.pixel_data, None);
    }

    #[test]
    fn explicit_big_endian() {
        let mut w = W::new(true, true);
        w.el(0x0008, 0x0060, b"CS", b"MR")
            .undef(0x0008, 0x1140, b"SQ")
            .item(UNDEFINED_LENGTH)
            .el(0x0008, 0x1150, b"UI", b"1.3\0")
            .item_end()
            .seq_end()
            .us(0x0028, 0x0002, 1)
            .el(0x0028, 0x0008, b"IS", b"3 ")
            .us(0x0028, 0x0010, 1)
            .us(0x0028, 0x0011, 1)
            .us(0x0028, 0x0100, 16)
            .el(0x7FE0, 0x0010, b"OW", &[0, 1, 0, 2, 0, 3]);
        let f = file(EXPLICIT_VR_BIG_ENDIAN, &w.buf);
        let l = walk(&f).unwrap();
        assert_eq!(l.encoding, DatasetEncoding::ExplicitBig);
        assert_eq!(tags(&l)[0], (0x0008, 0x0060));
        assert_eq!(tags(&l)[1], (0x0008, 0x1140));
        assert_eq!(number_of_frames(&l, &f), Ok(3));
        assert_eq!(native_frame_length(&l, &f), Ok(2));
        let off = f.len() as u64 - 6;
        assert_eq!(
            frame_ranges(&l, &f, 3, None).unwrap(),
            vec![vec![(off, 2)], vec![(off + 2, 2)], vec![(off + 4, 2)]]
        );
    }

    #[test]
    fn bits_allocated_one() {
        let mk = |rows: u16, cols: u16| {
            let mut w = W::new(true, false);
            w.us(0x0028, 0x0002, 1)
                .us(0x0028, 0x0010, rows)
                .us(0x0028, 0x0011, cols)
                .us(0x0028, 0x0100, 1)
                .el(0x7FE0, 0x0010, b"OB", &[0; 16]);
            file("1.2.840.10008.1.2.1", &w.buf)
        };
        let odd = mk(3, 3);
        let l = walk(&odd).unwrap();
        assert!(matches!(
            frame_ranges(&l, &odd, 1, None),
            Err(LayoutError::Malformed { .. })
        ));
        let even = mk(4, 4);
        let l = walk(&even).unwrap();
        assert_eq!(frame_ranges(&l, &even, 8, None).unwrap().len(), 8);
        assert!(frame_ranges(&l, &even, 9, None).is_err());
    }

    /// Encapsulated pixel data with the given BOT and fragment payloads;
    /// optional extended offset table elements.
    fn encapsulated(bot: &[u32], frags: &[&[u8]], eot: Option<(&[u64], &[u64])>) -> Vec<u8> {
        let mut w = W::new(true, false);
        w.el(0x0028, 0x0008, b"IS", b"2 ");
        if let Some((o, l)) = eot {
            let ob: Vec<u8> = o.iter().flat_map(|x| x.to_le_bytes()).collect();
            let lb: Vec<u8> = l.iter().flat_map(|x| x.to_le_bytes()).collect();
            w.el(0x7FE0, 0x0001, b"OV", &ob)
                .el(0x7FE0, 0x0002, b"OV", &lb);
        }
        w.undef(0x7FE0, 0x0010, b"OB").item(bot.len() as u32 * 4);
        for &o in bot {
            w.u32(o);
        }
        for f in frags {
            w.item(f.len() as u32).raw(f);
        }
        w.seq_end();
        w.el(0xFFFC, 0xFFFC, b"OB", &[0, 0]);
        file(JPEG_BASELINE, &w.buf)
    }

    fn fragments_of(l: &Part10Layout) -> (Vec<u32>, Vec<Fragment>) {
        match &l.pixel_data {
            Some(PixelDataLayout::Encapsulated {
                basic_offset_table,
                fragments,
            }) => (basic_offset_table.clone(), fragments.clone()),
            other => panic!("not encapsulated: {other:?}"),
        }
    }

    #[test]
    fn encapsulated_without_bot() {
        let a: &[u8] = &[0xFF, 0xD8, 1, 2];
        let b: &[u8] = &[3, 4];
        let c: &[u8] = &[0xFF, 0xD8, 5, 6, 7, 8];
        let f = encapsulated(&[], &[a, b, c], None);
        let l = walk(&f).unwrap();
        let (bot, frags) = fragments_of(&l);
        assert!(bot.is_empty());
        assert_eq!(frags.len(), 3);
        assert_eq!(frags[1].item_offset, frags[0].value_offset + 4);
        assert_eq!(frags[1].value_offset, frags[1].item_offset + 8);
        assert_eq!(frags[2].length, 6);
        assert_eq!(tags(&l).last(), Some(&(0xFFFC, 0xFFFC)));
        let pd = find_element(&l, PIXEL_DATA).unwrap();
        assert_eq!(pd.value_length, None);
        assert_eq!(pd.value_offset, frags[0].item_offset - 8);
        let r = |x: &Fragment| (x.value_offset, x.length);
        // One frame: all fragments.
        assert_eq!(
            frame_ranges(&l, &f, 1, None).unwrap(),
            vec![vec![r(&frags[0]), r(&frags[1]), r(&frags[2])]]
        );
        // Three frames: one fragment each.
        assert_eq!(frame_ranges(&l, &f, 3, None).unwrap().len(), 3);
        // Two frames: grouped by JPEG SOI markers.
        assert_eq!(
            frame_ranges(&l, &f, 2, None).unwrap(),
            vec![vec![r(&frags[0]), r(&frags[1])], vec![r(&frags[2])]]
        );
        // More frames than fragments.
        assert!(frame_ranges(&l, &f, 4, None).is_err());
    }

    #[test]
    fn encapsulated_markers_jpeg2000_and_mismatch() {
        let j2k: &[u8] = &[0xFF, 0x4F, 0xFF, 0x51, 0, 0];
        let jp2: &[u8] = &[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 1, 1];
        let tail: &[u8] = &[7, 7];
        let f = encapsulated(&[], &[j2k, tail, jp2, tail], None);
        let l = walk(&f).unwrap();
        let r = frame_ranges(&l, &f, 2, None).unwrap();
        assert_eq!(r.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
        assert!(matches!(
            frame_ranges(&l, &f, 3, None),
            Err(LayoutError::Malformed { .. })
        ));
        // No markers at all: cannot split.
        let f = encapsulated(&[], &[tail, tail, tail], None);
        let l = walk(&f).unwrap();
        assert!(frame_ranges(&l, &f, 2, None).is_err());
    }

    #[test]
    fn encapsulated_with_bot() {
        let a: &[u8] = &[1, 2, 3, 4];
        let b: &[u8] = &[5, 6];
        let c: &[u8] = &[7, 8];
        // Frame 0 = a + b (12 + 10 bytes of items), frame 1 = c.
        let f = encapsulated(&[0, 22], &[a, b, c], None);
        let l = walk(&f).unwrap();
        let (bot, frags) = fragments_of(&l);
        assert_eq!(bot, vec![0, 22]);
        let r = frame_ranges(&l, &f, 2, None).unwrap();
        assert_eq!(
            r,
            vec![
                vec![(frags[0].value_offset, 4), (frags[1].value_offset, 2)],
                vec![(frags[2].value_offset, 2)]
            ]
        );
        // BOT size disagreeing with the frame count.
        assert!(frame_ranges(&l, &f, 4, None).is_err());
        // BOT offset not pointing at a fragment.
        let f = encapsulated(&[0, 20], &[a, b, c], None);
        let l = walk(&f).unwrap();
        assert!(frame_ranges(&l, &f, 2, None).is_err());
        // BOT not starting at 0.
        let f = encapsulated(&[12, 22], &[a, b, c], None);
        let l = walk(&f).unwrap();
        assert!(frame_ranges(&l, &f, 2, None).is_err());
        // BOT length not a multiple of 4.
        let mut w = W::new(true, false);
        w.undef(0x7FE0, 0x0010, b"OB")
            .item(2)
            .raw(&[0, 0])
            .seq_end();
        let f = file(JPEG_BASELINE, &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
    }

    #[test]
    fn encapsulated_with_extended_offset_table() {
        let a: &[u8] = &[1, 2, 3, 4];
        let b: &[u8] = &[5, 6];
        let c: &[u8] = &[7, 8, 9, 0];
        // Frame 0 = a + b, frame 1 = c whose last byte is padding.
        let offsets = [0u64, 22];
        let lengths = [6u64, 3];
        let f = encapsulated(&[], &[a, b, c], Some((&offsets, &lengths)));
        let l = walk(&f).unwrap();
        let (_, frags) = fragments_of(&l);
        let r = frame_ranges(&l, &f, 2, None).unwrap();
        assert_eq!(
            r,
            vec![
                vec![(frags[0].value_offset, 4), (frags[1].value_offset, 2)],
                vec![(frags[2].value_offset, 3)]
            ]
        );
        // EOT size disagreeing with the frame count.
        assert!(frame_ranges(&l, &f, 3, None).is_err());
        // Length larger than the fragments.
        let f = encapsulated(&[], &[a, b, c], Some((&offsets, &[6, 5])));
        let l = walk(&f).unwrap();
        assert!(frame_ranges(&l, &f, 2, None).is_err());
        // Offset inside a fragment.
        let f = encapsulated(&[], &[a, b, c], Some((&[0, 4], &lengths)));
        let l = walk(&f).unwrap();
        assert!(frame_ranges(&l, &f, 2, None).is_err());
    }

    #[test]
    fn encapsulated_errors() {
        // Undefined-length fragment.
        let mut w = W::new(true, false);
        w.undef(0x7FE0, 0x0010, b"OB")
            .item(0)
            .item(UNDEFINED_LENGTH)
            .seq_end();
        let f = file(JPEG_BASELINE, &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
        // Something other than an item.
        let mut w = W::new(true, false);
        w.undef(0x7FE0, 0x0010, b"OB")
            .item(0)
            .el(0x0008, 0x0060, b"CS", b"MR");
        let f = file(JPEG_BASELINE, &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
        // Missing sequence delimiter.
        let mut w = W::new(true, false);
        w.undef(0x7FE0, 0x0010, b"OB").item(0).item(2).raw(&[1, 2]);
        let f = file(JPEG_BASELINE, &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
    }

    #[test]
    fn depth_limit() {
        let mut w = W::new(true, false);
        for _ in 0..(MAX_SEQUENCE_DEPTH + 2) {
            w.undef(0x0008, 0x1140, b"SQ").item(UNDEFINED_LENGTH);
        }
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        assert!(matches!(
            walk(&f),
            Err(LayoutError::Malformed {
                reason: "sequences nested too deeply",
                ..
            })
        ));
        // Within the limit it works.
        let mut w = W::new(false, false);
        for _ in 0..(MAX_SEQUENCE_DEPTH - 1) {
            w.undef(0x0008, 0x1140, b"SQ").item(UNDEFINED_LENGTH);
        }
        for _ in 0..(MAX_SEQUENCE_DEPTH - 1) {
            w.item_end().seq_end();
        }
        let f = file(IMPLICIT_VR_LITTLE_ENDIAN, &w.buf);
        assert_eq!(walk(&f).unwrap().elements.len(), 1);
    }

    #[test]
    fn lengths_past_the_end_are_truncated() {
        // Odd length running past the end.
        let mut w = W::new(true, false);
        w.head(0x0010, 0x0010, b"PN", 7).raw(b"Doe");
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
        // Huge 32-bit length.
        let mut w = W::new(false, false);
        w.head(0x7FE0, 0x0010, b"OW", 0xFFFF_FFF0).raw(&[0; 8]);
        let f = file(IMPLICIT_VR_LITTLE_ENDIAN, &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
        // An odd length that fits is tolerated.
        let mut w = W::new(true, false);
        w.el(0x0010, 0x0010, b"PN", b"Doe");
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        assert_eq!(walk(&f).unwrap().elements.len(), 1);
    }

    #[test]
    fn stray_delimiters_are_malformed() {
        let mut w = W::new(true, false);
        w.seq_end();
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
        let mut w = W::new(true, false);
        w.undef(0x0008, 0x1140, b"SQ")
            .el(0x0008, 0x0060, b"CS", b"MR");
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
    }

    #[test]
    fn implicit_data_labelled_explicit() {
        let mut w = W::new(false, false);
        w.el(0x0008, 0x0060, b"CS", b"MR")
            .el(0x0010, 0x0010, b"PN", b"Doe^J ");
        let f = file("1.2.840.10008.1.2.1", &w.buf);
        let l = walk(&f).unwrap();
        assert_eq!(l.encoding, DatasetEncoding::ImplicitLittle);
        assert_eq!(tags(&l), vec![(0x0008, 0x0060), (0x0010, 0x0010)]);
    }

    /// Top-level element boundaries of a walked file.
    fn boundaries(l: &Part10Layout, len: usize) -> Vec<usize> {
        let mut b = vec![l.dataset_offset as usize];
        for w in l.elements.windows(2) {
            // The start of the next element's header is the end of this one.
            let next = &w[1];
            let header = match next.vr {
                Some(vr) if LONG_VRS.contains(&&vr) => 12,
                _ => 8,
            };
            b.push(next.value_offset as usize - header);
        }
        b.push(len);
        b
    }

    #[test]
    fn truncation_at_every_byte() {
        let files = [
            explicit_native(),
            implicit_nested(),
            encapsulated(&[0, 22], &[&[1, 2, 3, 4], &[5, 6], &[7, 8]], None),
            encapsulated(
                &[],
                &[&[1, 2, 3, 4], &[5, 6]],
                Some((&[0u64, 12], &[4u64, 2])),
            ),
        ];
        for f in files {
            let full = walk(&f).unwrap();
            let ok_at = boundaries(&full, f.len());
            for cut in 0..f.len() {
                let part = &f[..cut];
                let res = walk(part);
                if ok_at.contains(&cut) {
                    let l = res.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
                    let _ = frame_ranges(&l, part, 1, None);
                    let _ = frame_ranges(&l, part, 2, None);
                } else {
                    match res {
                        Err(LayoutError::Truncated { .. }) | Err(LayoutError::NotPart10) => {}
                        other => panic!("cut {cut}: expected Truncated, got {other:?}"),
                    }
                }
            }
            // frame_ranges must not panic when given a shorter buffer.
            for cut in 0..f.len() {
                for n in 0..4 {
                    let _ = frame_ranges(&full, &f[..cut], n, None);
                    let _ = frame_ranges(&full, &f[..cut], n, Some(3));
                }
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let seeds = [
            explicit_native(),
            implicit_nested(),
            encapsulated(&[0, 22], &[&[1, 2, 3, 4], &[5, 6], &[7, 8]], None),
            encapsulated(
                &[],
                &[&[0xFF, 0xD8], &[5, 6]],
                Some((&[0u64, 10], &[2u64, 2])),
            ),
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in &seeds {
            for _ in 0..3000 {
                let mut f = seed.clone();
                let edits = 1 + next() % 4;
                for _ in 0..edits {
                    let i = (next() % f.len() as u64) as usize;
                    let v = match next() % 4 {
                        0 => 0xFF,
                        1 => 0x00,
                        2 => 0xFE,
                        _ => next() as u8,
                    };
                    f[i] = v;
                }
                if let Ok(l) = walk(&f) {
                    for n in 0..4 {
                        let _ = frame_ranges(&l, &f, n, None);
                    }
                    let _ = number_of_frames(&l, &f);
                }
            }
        }
    }

    #[test]
    fn error_display() {
        let e = LayoutError::Malformed {
            offset: 7,
            reason: "x",
        };
        assert_eq!(e.to_string(), "malformed DICOM data at byte 7: x");
        let e: Box<dyn std::error::Error> = Box::new(LayoutError::Truncated { offset: 3 });
        assert!(e.to_string().contains('3'));
    }
}
