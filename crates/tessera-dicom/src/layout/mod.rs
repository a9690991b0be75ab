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

mod frames;
/// Hostile inputs for the property tests of this crate's parsers (test builds only).
#[cfg(test)]
pub(crate) mod hostile;
mod read;
#[cfg(test)]
mod tests;
mod walk;

use std::fmt;

pub use frames::{frame_ranges, native_frame_length, number_of_frames};
pub use walk::{element_value, find_element, walk, walk_with};

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
    /// Sequences nested deeper than the limit ([`crate::limits::ParseLimits`]); the
    /// sequence at `offset` is the first one too deep.
    TooDeep { offset: u64, limit: usize },
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
            LayoutError::TooDeep { offset, limit } => write!(
                f,
                "malformed DICOM data at byte {offset}: {}",
                too_deep(*limit)
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Why a file nested too deeply is refused, in words.
pub fn too_deep(limit: usize) -> String {
    format!("sequences nested too deeply (more than {limit} levels)")
}
