//! Malformed DICOM (issue 17), each case built by hand below: what `extract::parse` and
//! `ParsedFile::extract` answer, as the DicomError variant and the STOW FailureReason it is
//! reported with (PS3.4 B.2.3: C000 cannot understand, A900 does not match the SOP class), or,
//! where the file is still usable, what is kept of it.
//!
//! The byte-level cases of the layout walk (lengths past the end, stray delimiters, the
//! nesting limit, offset tables that do not match) are in `src/layout/tests/`; the decoder's
//! undecodable bytes in `src/charset.rs`. These go through the whole parse, as STOW and
//! C-STORE do.

use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_dicom::error::DicomError;
use tessera_dicom::extract::{parse, ExtractedInstance};
use tessera_dicom::layout::{self, LayoutError};
use tessera_dicom::part10::file_meta;
use tessera_dicom::status::StatusCode;

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// VRs with two reserved bytes and a 32-bit length (PS3.5 7.1.2).
const LONG_VRS: [&[u8; 2]; 13] = [
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV",
];

/// A data set built element by element, written in tag order: each part is the bytes of one
/// top-level element (header and value, or a whole sequence), well formed or not.
struct DataSet {
    explicit: bool,
    parts: Vec<((u16, u16), Vec<u8>)>,
}

impl DataSet {
    fn explicit() -> Self {
        DataSet {
            explicit: true,
            parts: Vec::new(),
        }
    }

    fn implicit() -> Self {
        DataSet {
            explicit: false,
            parts: Vec::new(),
        }
    }

    /// An element header with this length (no value).
    fn header(&self, tag: (u16, u16), vr: &[u8; 2], len: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        if self.explicit && tag.0 != 0xFFFE {
            out.extend_from_slice(vr);
            if LONG_VRS.contains(&vr) {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&len.to_le_bytes());
            } else {
                out.extend_from_slice(&(len as u16).to_le_bytes());
            }
        } else {
            out.extend_from_slice(&len.to_le_bytes());
        }
        out
    }

    /// A whole element, its length the value's.
    fn element(&self, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = self.header(tag, vr, value.len() as u32);
        out.extend_from_slice(value);
        out
    }

    fn el(mut self, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Self {
        let bytes = self.element(tag, vr, value);
        self.parts.push((tag, bytes));
        self
    }

    fn us(self, tag: (u16, u16), value: u16) -> Self {
        self.el(tag, b"US", &value.to_le_bytes())
    }

    /// Bytes placed where an element with this tag would be.
    fn raw(mut self, tag: (u16, u16), bytes: Vec<u8>) -> Self {
        self.parts.push((tag, bytes));
        self
    }

    /// SOP Class and Instance, Study and Series Instance UIDs: what extraction requires.
    fn ids(self) -> Self {
        self.el((0x0008, 0x0016), b"UI", b"1.2.840.10008.5.1.4.1.1.7\0")
            .el((0x0008, 0x0018), b"UI", b"1.2.3.4.5")
            .el((0x0020, 0x000D), b"UI", b"1.2.3.4")
            .el((0x0020, 0x000E), b"UI", b"1.2.3.4.1")
    }

    /// Rows, Columns, Samples per Pixel, Bits Allocated of native pixel data.
    fn image(self, rows: u16, columns: u16, samples: u16, bits: u16) -> Self {
        self.us((0x0028, 0x0002), samples)
            .us((0x0028, 0x0010), rows)
            .us((0x0028, 0x0011), columns)
            .us((0x0028, 0x0100), bits)
    }

    fn frames(self, number: &str) -> Self {
        self.el((0x0028, 0x0008), b"IS", number.as_bytes())
    }

    fn bytes(&self) -> Vec<u8> {
        let mut parts: Vec<_> = self.parts.iter().collect();
        parts.sort_by_key(|(tag, _)| *tag);
        parts.into_iter().flat_map(|(_, b)| b.clone()).collect()
    }

    /// The Part 10 file: preamble, meta group, this data set.
    fn file(&self, transfer_syntax: &str) -> Vec<u8> {
        let mut file = file_meta(SECONDARY_CAPTURE, "1.2.3.4.5", transfer_syntax, None);
        file.extend_from_slice(&self.bytes());
        file
    }
}

fn item(len: u32) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF, 0x00, 0xE0];
    out.extend_from_slice(&len.to_le_bytes());
    out
}

fn item_end() -> Vec<u8> {
    vec![0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]
}

fn sequence_end() -> Vec<u8> {
    vec![0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]
}

/// Encapsulated Pixel Data: a Basic Offset Table and fragments, then the delimiter.
fn encapsulated(bot: &[u32], fragments: &[&[u8]]) -> Vec<u8> {
    let ds = DataSet::explicit();
    let mut out = ds.header((0x7FE0, 0x0010), b"OB", UNDEFINED);
    out.extend(item(bot.len() as u32 * 4));
    for offset in bot {
        out.extend_from_slice(&offset.to_le_bytes());
    }
    for fragment in fragments {
        out.extend(item(fragment.len() as u32));
        out.extend_from_slice(fragment);
    }
    out.extend(sequence_end());
    out
}

/// Parses (and extracts) within a few seconds, whatever the outcome.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    out
}

/// The error `parse` refuses `file` with.
fn refused(file: &[u8]) -> DicomError {
    match timed("parse", || parse(file)) {
        Ok(parsed) => panic!(
            "parsed, expected an error; elements: {:?}",
            parsed.layout.elements
        ),
        Err(err) => err,
    }
}

/// A Malformed refusal (C000) whose reason contains `reason`.
fn assert_malformed(file: &[u8], reason: &str) {
    let err = refused(file);
    assert!(
        matches!(&err, DicomError::Malformed { reason: r, .. } if r.contains(reason)),
        "expected Malformed({reason:?}), got {err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND, "{err}");
}

/// Parsed and extracted.
fn extracted(file: &[u8]) -> ExtractedInstance {
    timed("parse + extract", || parse(file).and_then(|p| p.extract()))
        .unwrap_or_else(|err| panic!("expected an instance, got {err:?}"))
}

fn metadata(instance: &ExtractedInstance) -> Value {
    serde_json::from_str(&instance.metadata).expect("metadata is JSON")
}

// --- Element lengths ------------------------------------------------------------------

#[test]
fn element_length_past_the_end_is_c000() {
    // Patient Name claims 256 bytes; 4 follow.
    let ds = DataSet::explicit().ids();
    let mut name = ds.header((0x0010, 0x0010), b"PN", 256);
    name.extend_from_slice(b"Doe^");
    let file = ds.raw((0x0010, 0x0010), name).file(EXPLICIT_LE);
    assert_malformed(&file, "unexpected end of data");
    // The same in implicit VR, on the last element.
    let ds = DataSet::implicit().ids();
    let mut private = ds.header((0x0009, 0x1010), b"UN", 1000);
    private.extend_from_slice(&[0; 10]);
    let file = ds.raw((0x0099, 0x0010), private).file(IMPLICIT_LE);
    assert_malformed(&file, "unexpected end of data");
}

#[test]
fn four_gigabyte_lengths_are_c000_at_once() {
    // 0xFFFFFFFE: one less than undefined, the largest defined length.
    for vr in [b"OB", b"UN", b"UT", b"SQ"] {
        let ds = DataSet::explicit().ids();
        let mut big = ds.header((0x0009, 0x1010), vr, 0xFFFF_FFFE);
        big.extend_from_slice(&[0; 16]);
        let file = ds.raw((0x0009, 0x1010), big).file(EXPLICIT_LE);
        assert_malformed(&file, "unexpected end of data");
    }
    let ds = DataSet::implicit().ids();
    let mut big = ds.header((0x0010, 0x0010), b"PN", 0xFFFF_FFFE);
    big.extend_from_slice(b"Doe^John");
    let file = ds.raw((0x0010, 0x0010), big).file(IMPLICIT_LE);
    assert_malformed(&file, "unexpected end of data");
    // A pixel data fragment of 0xFFFFFFFE bytes.
    let ds = DataSet::explicit().ids();
    let mut pixels = ds.header((0x7FE0, 0x0010), b"OB", UNDEFINED);
    pixels.extend(item(0));
    pixels.extend(item(0xFFFF_FFFE));
    pixels.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
    let file = ds.raw((0x7FE0, 0x0010), pixels).file(JPEG_BASELINE);
    assert_malformed(&file, "unexpected end of data");
}

#[test]
fn odd_lengths_that_fit_are_read() {
    // An odd-length UID without its padding byte, an odd-length LO, odd-length native pixel
    // data (3 x 3 RGB, 27 bytes, unpadded) as the last element.
    let file = DataSet::explicit()
        .el((0x0008, 0x0016), b"UI", b"1.2.840.10008.5.1.4.1.1.7")
        .el((0x0008, 0x0018), b"UI", b"1.2.3.4.5")
        .el((0x0008, 0x1030), b"LO", b"Odd")
        .el((0x0020, 0x000D), b"UI", b"1.2.3.4")
        .el((0x0020, 0x000E), b"UI", b"1.2.3.4.1")
        .image(3, 3, 3, 8)
        .el((0x7FE0, 0x0010), b"OB", &[7; 27])
        .file(EXPLICIT_LE);
    let instance = extracted(&file);
    assert_eq!(instance.sop_class.as_str(), SECONDARY_CAPTURE);
    assert_eq!(instance.study.study_description.as_deref(), Some("Odd"));
    let pixels = file.len() as u64 - 27;
    assert_eq!(instance.frames, Some(vec![vec![(pixels, 27)]]));
}

// --- Sequences ------------------------------------------------------------------------

#[test]
fn undefined_length_sequence_without_delimiters_is_c000() {
    let ds = DataSet::explicit().ids();
    // The file ends inside an undefined-length item of an undefined-length sequence.
    let mut sequence = ds.header((0x0008, 0x1140), b"SQ", UNDEFINED);
    sequence.extend(item(UNDEFINED));
    sequence.extend(ds.element((0x0008, 0x1150), b"UI", b"1.2.3\0"));
    let file = DataSet::explicit()
        .ids()
        .raw((0x0008, 0x1140), sequence.clone())
        .file(EXPLICIT_LE);
    assert_malformed(&file, "unexpected end of data");
    // No item delimiter: the sequence delimiter comes inside the item.
    let mut no_item_end = sequence.clone();
    no_item_end.extend(sequence_end());
    let file = DataSet::explicit()
        .ids()
        .raw((0x0008, 0x1140), no_item_end)
        .file(EXPLICIT_LE);
    assert_malformed(&file, "unexpected delimiter inside item");
    // No sequence delimiter: the next top-level element comes where an item should.
    let mut no_sequence_end = sequence;
    no_sequence_end.extend(item_end());
    let file = DataSet::explicit()
        .ids()
        .raw((0x0008, 0x1140), no_sequence_end)
        .el((0x0010, 0x0010), b"PN", b"Doe^John")
        .file(EXPLICIT_LE);
    assert_malformed(&file, "expected item or sequence delimiter");
}

#[test]
fn a_hundred_thousand_nested_undefined_length_sequences_are_c000() {
    let ds = DataSet::explicit();
    let mut nested = Vec::new();
    for _ in 0..100_000 {
        nested.extend(ds.header((0x0040, 0xA730), b"SQ", UNDEFINED));
        nested.extend(item(UNDEFINED));
    }
    for _ in 0..100_000 {
        nested.extend(item_end());
        nested.extend(sequence_end());
    }
    let file = DataSet::explicit()
        .ids()
        .raw((0x0040, 0xA730), nested)
        .file(EXPLICIT_LE);
    assert_malformed(&file, "sequences nested too deeply");
}

// --- Value representations ------------------------------------------------------------

#[test]
fn a_uid_encoded_as_a_sequence_is_missing_a900() {
    let ds = DataSet::explicit();
    let mut sequence = ds.header((0x0008, 0x0018), b"SQ", UNDEFINED);
    sequence.extend(item(0));
    sequence.extend(sequence_end());
    let file = DataSet::explicit()
        .el((0x0008, 0x0016), b"UI", b"1.2.840.10008.5.1.4.1.1.7\0")
        .raw((0x0008, 0x0018), sequence)
        .el((0x0020, 0x000D), b"UI", b"1.2.3.4")
        .el((0x0020, 0x000E), b"UI", b"1.2.3.4.1")
        .file(EXPLICIT_LE);
    let err = timed("extract", || parse(&file).and_then(|p| p.extract())).unwrap_err();
    assert!(
        matches!(err, DicomError::MissingAttribute("SOPInstanceUID")),
        "{err:?}"
    );
    assert_eq!(
        err.failure_reason(),
        StatusCode::DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    );
}

#[test]
fn a_uid_of_letters_is_a900() {
    // UI holding text that is not a UID: InvalidUid, A900.
    let file = DataSet::explicit()
        .el((0x0008, 0x0016), b"UI", b"1.2.840.10008.5.1.4.1.1.7\0")
        .el((0x0008, 0x0018), b"UI", b"../../etc")
        .el((0x0020, 0x000D), b"UI", b"1.2.3.4")
        .el((0x0020, 0x000E), b"UI", b"1.2.3.4.1")
        .file(EXPLICIT_LE);
    let err = timed("extract", || parse(&file).and_then(|p| p.extract())).unwrap_err();
    assert!(matches!(err, DicomError::InvalidUid(_)), "{err:?}");
    assert_eq!(
        err.failure_reason(),
        StatusCode::DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    );
}

#[test]
fn known_tags_with_another_vr() {
    // Rows as text and the SOP Class UID as UN: the UID is read by its dictionary VR, the
    // rows are not a number, so no frame is located from them.
    let file = DataSet::explicit()
        .el((0x0008, 0x0016), b"UN", b"1.2.840.10008.5.1.4.1.1.7\0")
        .el((0x0008, 0x0018), b"UI", b"1.2.3.4.5")
        .el((0x0010, 0x0010), b"OB", b"Doe^John")
        .el((0x0020, 0x000D), b"UI", b"1.2.3.4")
        .el((0x0020, 0x000E), b"UI", b"1.2.3.4.1")
        .us((0x0028, 0x0002), 1)
        .el((0x0028, 0x0010), b"CS", b"ROWS")
        .us((0x0028, 0x0011), 2)
        .us((0x0028, 0x0100), 8)
        .el((0x7FE0, 0x0010), b"OB", &[0; 4])
        .file(EXPLICIT_LE);
    let instance = extracted(&file);
    assert_eq!(instance.sop_class.as_str(), SECONDARY_CAPTURE);
    assert_eq!(instance.instance.rows, None);
    assert_eq!(instance.frames, None);
    // Patient Name sent as OB is still read from its bytes for the index.
    assert_eq!(instance.study.patient_name.as_deref(), Some("Doe^John"));
}

#[test]
fn an_invalid_vr_after_the_first_element_is_c000() {
    let file = DataSet::explicit()
        .ids()
        .el((0x0010, 0x0010), b"p\x01", b"Doe^John")
        .file(EXPLICIT_LE);
    assert_malformed(&file, "invalid explicit VR");
}

// --- Character sets -------------------------------------------------------------------

#[test]
fn bad_utf8_in_an_iso_ir_192_data_set_is_replaced() {
    let file = DataSet::explicit()
        .el((0x0008, 0x0005), b"CS", b"ISO_IR 192")
        .ids()
        // A lone continuation byte, an invalid lead byte, a sequence cut short, an overlong
        // form of '/' (C0 AF), a UTF-16 surrogate (ED A0 80).
        .el(
            (0x0008, 0x1030),
            b"LO",
            b"a\x80b\xFFc\xE6\x97\xC0\xAFd\xED\xA0\x80",
        )
        .el((0x0010, 0x0010), b"PN", b"Doe^J\xC3hn")
        .file(EXPLICIT_LE);
    let instance = extracted(&file);
    let description = "a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}\u{FFFD}d\u{FFFD}\u{FFFD}\u{FFFD}";
    assert_eq!(
        instance.study.study_description.as_deref(),
        Some(description)
    );
    assert_eq!(
        instance.study.patient_name.as_deref(),
        Some("Doe^J\u{FFFD}hn")
    );
    let json = metadata(&instance);
    assert_eq!(json["00081030"]["Value"][0], description);
    assert_eq!(
        json["00100010"]["Value"][0]["Alphabetic"],
        "Doe^J\u{FFFD}hn"
    );
}

#[test]
fn broken_iso_2022_escape_sequences_are_replaced() {
    // JIS X 0208 designated and back to ASCII, an unknown final byte (ESC ( Z), an
    // odd-length two-byte run, ESC with no final byte at the very end.
    let file = DataSet::explicit()
        .el((0x0008, 0x0005), b"CS", b"\\ISO 2022 IR 87")
        .ids()
        .el(
            (0x0010, 0x0010),
            b"PN",
            b"\x1b$B;3\x1b(B\x1b(Zx^\x1b$B;\x1b(By\x1b",
        )
        .file(EXPLICIT_LE);
    let instance = extracted(&file);
    let name = "山\u{FFFD}x^\u{FFFD}y\u{FFFD}";
    assert_eq!(instance.study.patient_name.as_deref(), Some(name));
    assert_eq!(
        metadata(&instance)["00100010"]["Value"][0]["Alphabetic"],
        name
    );
}

#[test]
fn an_unknown_character_set_is_read_as_the_default_repertoire() {
    let file = DataSet::explicit()
        .el((0x0008, 0x0005), b"CS", b"KOI8-R\\\x1b$B")
        .ids()
        .el((0x0010, 0x0010), b"PN", b"M\xfcller")
        .file(EXPLICIT_LE);
    let instance = extracted(&file);
    assert_eq!(instance.study.patient_name.as_deref(), Some("Müller"));
}

// --- Encapsulated pixel data ----------------------------------------------------------

#[test]
fn encapsulated_pixel_data_without_items_is_c000() {
    let ds = DataSet::explicit().ids();
    let mut pixels = ds.header((0x7FE0, 0x0010), b"OB", UNDEFINED);
    pixels.extend(sequence_end());
    let file = ds.raw((0x7FE0, 0x0010), pixels).file(JPEG_BASELINE);
    assert_malformed(&file, "without offset table item");
}

#[test]
fn encapsulated_pixel_data_with_only_an_offset_table_has_no_frames() {
    let file = DataSet::explicit()
        .ids()
        .raw((0x7FE0, 0x0010), encapsulated(&[], &[]))
        .file(JPEG_BASELINE);
    let instance = extracted(&file);
    assert_eq!(instance.frames, None);
    let parsed = parse(&file).unwrap();
    assert!(matches!(
        layout::frame_ranges(&parsed.layout, &file, 1, None),
        Err(LayoutError::Malformed {
            reason: "fewer fragments than frames",
            ..
        })
    ));
}

#[test]
fn a_basic_offset_table_pointing_outside_gives_no_frames() {
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xD9];
    for outside in [0xFFFF_FF00, u32::MAX, 12 + 12 + 12] {
        let file = DataSet::explicit()
            .ids()
            .frames("2")
            .raw(
                (0x7FE0, 0x0010),
                encapsulated(&[0, outside], &[jpeg, jpeg, jpeg]),
            )
            .file(JPEG_BASELINE);
        let instance = extracted(&file);
        assert_eq!(instance.frames, None, "offset {outside:#x}");
        let parsed = parse(&file).unwrap();
        assert!(
            matches!(
                layout::frame_ranges(&parsed.layout, &file, 2, None),
                Err(LayoutError::Malformed {
                    reason: "offset does not point at a fragment in order",
                    ..
                })
            ),
            "offset {outside:#x}"
        );
    }
}

#[test]
fn an_extended_offset_table_pointing_outside_gives_no_frames() {
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xD9];
    let offsets: Vec<u8> = [0u64, u64::MAX]
        .iter()
        .flat_map(|o| o.to_le_bytes())
        .collect();
    let lengths: Vec<u8> = [4u64, 4].iter().flat_map(|o| o.to_le_bytes()).collect();
    let file = DataSet::explicit()
        .ids()
        .frames("2")
        .el((0x7FE0, 0x0001), b"OV", &offsets)
        .el((0x7FE0, 0x0002), b"OV", &lengths)
        .raw((0x7FE0, 0x0010), encapsulated(&[], &[jpeg, jpeg, jpeg]))
        .file(JPEG_BASELINE);
    let instance = extracted(&file);
    assert_eq!(instance.frames, None);
    let parsed = parse(&file).unwrap();
    assert!(matches!(
        layout::frame_ranges(&parsed.layout, &file, 2, None),
        Err(LayoutError::Malformed {
            reason: "offset overflows",
            ..
        })
    ));
}

// --- Frame counts and sizes -----------------------------------------------------------

#[test]
fn more_frames_than_the_pixel_data_holds_gives_no_frames() {
    // Native: 2 x 2 x 8 bits = 4 bytes a frame, 8 bytes of pixel data.
    for frames in ["3", "1000", "2147483647", "4294967295", "4294967296"] {
        let file = DataSet::explicit()
            .ids()
            .frames(frames)
            .image(2, 2, 1, 8)
            .el((0x7FE0, 0x0010), b"OB", &[0; 8])
            .file(EXPLICIT_LE);
        let instance = extracted(&file);
        assert_eq!(instance.frames, None, "{frames} frames");
    }
    // Encapsulated: five frames in two fragments.
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xD9];
    let file = DataSet::explicit()
        .ids()
        .frames("5")
        .raw((0x7FE0, 0x0010), encapsulated(&[], &[jpeg, jpeg]))
        .file(JPEG_BASELINE);
    assert_eq!(extracted(&file).frames, None);
}

#[test]
fn zero_or_negative_frames_count_as_one() {
    for frames in ["0", "-3", ""] {
        let file = DataSet::explicit()
            .ids()
            .frames(frames)
            .image(2, 2, 1, 8)
            .el((0x7FE0, 0x0010), b"OB", &[0; 4])
            .file(EXPLICIT_LE);
        let pixels = file.len() as u64 - 4;
        assert_eq!(
            extracted(&file).frames,
            Some(vec![vec![(pixels, 4)]]),
            "{frames:?} frames"
        );
    }
}

#[test]
fn frame_sizes_past_u32_and_u64_give_no_frames() {
    // Rows x Columns x Samples x Bits / 8 = 25,769,017,350 bytes a frame (past u32); with
    // 4294967295 frames the pixel data would need more than u64 can count.
    for frames in ["1", "4294967295"] {
        let file = DataSet::explicit()
            .ids()
            .frames(frames)
            .image(65535, 65535, 3, 16)
            .el((0x7FE0, 0x0010), b"OW", &[0; 16])
            .file(EXPLICIT_LE);
        let instance = extracted(&file);
        assert_eq!(instance.frames, None, "{frames} frames");
        assert_eq!(instance.instance.rows, Some(65535));
    }
    let file = DataSet::explicit()
        .ids()
        .frames("4294967295")
        .image(65535, 65535, 3, 16)
        .el((0x7FE0, 0x0010), b"OW", &[0; 16])
        .file(EXPLICIT_LE);
    let parsed = parse(&file).unwrap();
    assert!(matches!(
        layout::frame_ranges(&parsed.layout, &file, u32::MAX, None),
        Err(LayoutError::Malformed {
            reason: "pixel data size overflows",
            ..
        })
    ));
}

// --- Found by the property tests (issue 17) and fixed ----------------------------------

/// `levels` sequences of defined length, each holding one item holding the next.
fn nested_defined_sequences(levels: u32) -> Vec<u8> {
    let ds = DataSet::explicit();
    // A level is a 12-byte SQ header and an 8-byte item header around the levels inside.
    let mut out = Vec::with_capacity(levels as usize * 20);
    for level in (1..=levels).rev() {
        let inside = 20 * (level - 1);
        out.extend(ds.header((0x0040, 0xA730), b"SQ", 8 + inside));
        out.extend(item(inside));
    }
    out
}

#[test]
fn deeply_nested_defined_length_sequences_are_c000_not_a_stack_overflow() {
    // 2,000 levels (40 KB) overflowed a 2 MiB thread's stack inside dicom-rs and aborted the
    // whole server; 100,000 levels is 2 MB.
    for levels in [2_000, 100_000] {
        let file = DataSet::explicit()
            .ids()
            .raw((0x0040, 0xA730), nested_defined_sequences(levels))
            .file(EXPLICIT_LE);
        assert_malformed(&file, "sequences nested too deeply");
    }
    // Within the limit, the same shape is read.
    let file = DataSet::explicit()
        .ids()
        .raw((0x0040, 0xA730), nested_defined_sequences(10))
        .file(EXPLICIT_LE);
    extracted(&file);
}

#[test]
fn a_length_past_its_item_inside_a_defined_length_sequence_is_c000_at_once() {
    // SQ (defined) > item (defined, 12 bytes) > OB claiming 0xFFFFFFF0: dicom-rs reserved and
    // zero-filled 4 GB before failing.
    let ds = DataSet::explicit();
    let mut ob = ds.header((0x0009, 0x1010), b"OB", 0xFFFF_FFF0);
    ob.truncate(12);
    let mut sequence = ds.header((0x0040, 0xA730), b"SQ", 8 + 12);
    sequence.extend(item(12));
    sequence.extend(ob);
    let file = DataSet::explicit()
        .ids()
        .raw((0x0040, 0xA730), sequence)
        .file(EXPLICIT_LE);
    let err = refused(&file);
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND, "{err}");
    // An element that fits the file but not its item.
    let mut sequence = ds.header((0x0040, 0xA730), b"SQ", 8 + 10);
    sequence.extend(item(10));
    sequence.extend(ds.element((0x0008, 0x0100), b"SH", b"ABCDEFGH"));
    let file = DataSet::explicit()
        .ids()
        .raw((0x0040, 0xA730), sequence)
        .el((0x0040, 0xA731), b"LO", &[b'x'; 64])
        .file(EXPLICIT_LE);
    assert_malformed(&file, "longer than the item holding it");
}

#[test]
fn a_binary_value_of_odd_length_is_c000() {
    // Rows as US with 3 bytes: dicom-rs read the rest out of step and allocated what the
    // misread lengths claimed.
    let file = DataSet::explicit()
        .ids()
        .el((0x0028, 0x0010), b"US", &[1, 0, 0])
        .el((0x0028, 0x0011), b"US", &[1, 0])
        .file(EXPLICIT_LE);
    assert_malformed(&file, "not a multiple of the value's size");
}

#[test]
fn a_frame_size_that_overflows_gives_no_frames_not_a_panic() {
    let file = DataSet::explicit()
        .ids()
        .image(65535, 65535, 65535, 65535)
        .el((0x7FE0, 0x0010), b"OB", &[0; 8])
        .file(EXPLICIT_LE);
    assert_eq!(extracted(&file).frames, None);
    let file = DataSet::explicit()
        .ids()
        .us((0x0028, 0x0002), 1)
        .el((0x0028, 0x0010), b"UL", &u32::MAX.to_le_bytes())
        .el((0x0028, 0x0011), b"UL", &u32::MAX.to_le_bytes())
        .us((0x0028, 0x0100), 16)
        .el((0x7FE0, 0x0010), b"OB", &[0; 8])
        .file(EXPLICIT_LE);
    assert_eq!(extracted(&file).frames, None);
}

const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// A Part 10 file whose data set is `data_set` deflated (raw DEFLATE, PS3.5 A.5).
fn deflated_file(data_set: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data_set).unwrap();
    let mut file = file_meta(SECONDARY_CAPTURE, "1.2.3.4.5", DEFLATED, None);
    file.extend(encoder.finish().unwrap());
    file
}

#[test]
fn a_deflated_data_set_is_read_and_its_lying_lengths_are_c000() {
    // Well formed: read.
    let fine = DataSet::explicit()
        .ids()
        .el((0x0010, 0x0010), b"PN", b"Doe^John")
        .bytes();
    let instance = extracted(&deflated_file(&fine));
    assert!(metadata(&instance)["00100010"].to_string().contains("Doe"));
    // A length inside a defined-length item that the data does not hold (dicom-rs reserved
    // 4 GB for it).
    let ds = DataSet::explicit();
    let mut sequence = ds.header((0x0040, 0xA730), b"SQ", 8 + 12);
    sequence.extend(item(12));
    sequence.extend(ds.header((0x0009, 0x1010), b"OB", 0xFFFF_FFF0));
    let lying = DataSet::explicit()
        .ids()
        .raw((0x0040, 0xA730), sequence)
        .bytes();
    let err = refused(&deflated_file(&lying));
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. } if reason.starts_with("in the deflated data set")),
        "{err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND);
}

#[test]
fn a_deflate_bomb_is_c000_before_it_is_inflated_whole() {
    use std::io::Write;
    // 100 MB of zeros in an OB element compress to about 100 KB: above the limit of 64 MiB
    // plus 32 times the compressed size.
    let ds = DataSet::explicit().ids();
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&ds.bytes()).unwrap();
    let size: u32 = 100 << 20;
    encoder
        .write_all(&ds.header((0x0009, 0x1010), b"OB", size))
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        encoder.write_all(&zeros).unwrap();
    }
    let mut file = file_meta(SECONDARY_CAPTURE, "1.2.3.4.5", DEFLATED, None);
    file.extend(encoder.finish().unwrap());
    assert!(file.len() < 1 << 20, "{} bytes compressed", file.len());
    assert_malformed(&file, "inflates to more than");
}
