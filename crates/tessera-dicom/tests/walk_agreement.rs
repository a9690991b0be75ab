//! The layout walk and dicom-rs read the same bytes the same way (issue 17). The walk checks
//! every length against its container and bounds the nesting before dicom-rs reads a file;
//! that protects dicom-rs only if both see the same elements. Two places where they did not,
//! each found from the property tests' report of "a meta group whose group length covers more
//! elements than the walk reads", rebuilt here by hand:
//!
//! - the file meta group: the walk reads it element by element while the group is 0002 and
//!   tolerates a miscounted group length; dicom-rs reads whole elements until the group
//!   length is used up, whatever their group, so it started the data set at another byte
//!   than the walk, and read it out of step;
//! - a VR the standard does not define: dicom-rs reads it as UN (two reserved bytes and a
//!   32-bit length), the walk read a 16-bit length.
//!
//! Either way dicom-rs read bytes the walk had never checked: a value the walk saw as plain
//! bytes became, to dicom-rs, thousands of nested sequences, and the stack overflowed (the
//! whole server aborted). Both are now refused with C000 before dicom-rs reads the file, so
//! that no stored file is read one way at ingest and another way by the readers of stored
//! files (frames, rendering, transcoding), which all use dicom-rs.

use std::time::{Duration, Instant};

use tessera_dicom::error::DicomError;
use tessera_dicom::extract::parse;
use tessera_dicom::part10::file_meta;
use tessera_dicom::status::StatusCode;

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const DEFLATED_LE: &str = "1.2.840.10008.1.2.1.99";
const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Where the group length's value (a u32) sits in what `file_meta` writes: after the
/// preamble, `DICM` and the (0002,0000) UL header.
const GROUP_LENGTH_VALUE: usize = 128 + 4 + 8;

fn meta(transfer_syntax: &str) -> Vec<u8> {
    file_meta(SECONDARY_CAPTURE, "1.2.3.4.5", transfer_syntax, None)
}

/// `file` with the meta group length set to `value`.
fn with_group_length(mut file: Vec<u8>, value: u32) -> Vec<u8> {
    file[GROUP_LENGTH_VALUE..GROUP_LENGTH_VALUE + 4].copy_from_slice(&value.to_le_bytes());
    file
}

fn group_length(file: &[u8]) -> u32 {
    u32::from_le_bytes(
        file[GROUP_LENGTH_VALUE..GROUP_LENGTH_VALUE + 4]
            .try_into()
            .unwrap(),
    )
}

fn explicit(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(vr);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn implicit_header(tag: (u16, u16), len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out
}

fn implicit(tag: (u16, u16), value: &[u8]) -> Vec<u8> {
    let mut out = implicit_header(tag, value.len() as u32);
    out.extend_from_slice(value);
    out
}

/// SOP Class and Instance, Study and Series Instance UIDs, in explicit VR.
fn explicit_ids() -> Vec<u8> {
    [
        explicit((0x0008, 0x0016), b"UI", b"1.2.840.10008.5.1.4.1.1.7\0"),
        explicit((0x0008, 0x0018), b"UI", b"1.2.3.4.5\0"),
        explicit((0x0010, 0x0020), b"LO", b"PID1"),
        explicit((0x0020, 0x000D), b"UI", b"1.2.3.4\0"),
        explicit((0x0020, 0x000E), b"UI", b"1.2.3.4.1\0"),
    ]
    .concat()
}

fn implicit_ids() -> Vec<u8> {
    [
        implicit((0x0008, 0x0016), b"1.2.840.10008.5.1.4.1.1.7\0"),
        implicit((0x0008, 0x0018), b"1.2.3.4.5\0"),
        implicit((0x0010, 0x0020), b"PID1"),
        implicit((0x0020, 0x000D), b"1.2.3.4\0"),
        implicit((0x0020, 0x000E), b"1.2.3.4.1\0"),
    ]
    .concat()
}

fn timed<T>(f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    out
}

/// A refusal (C000) that names the group length.
fn assert_group_length_refused(file: &[u8], says: u32, take: u32) {
    let err = timed(|| parse(file)).err().expect("refused");
    let wanted = format!("says {says} bytes but the group's elements take {take}");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. } if reason.contains(&wanted)),
        "{err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND);
}

/// The case the property test reported, made into an attack: the group length one byte
/// longer than the meta group, an implicit VR data set whose first element (a private tag,
/// length 0x0001424F) reads, to dicom-rs's explicit VR meta reader, as an OB element of
/// length 0 (the first four bytes of its value), so that dicom-rs starts the data set four
/// bytes into that value, where 5,000 nested sequences of undefined length wait. The walk
/// saw one private element of 82,511 bytes. Before the fix this overflowed the stack
/// inside dicom-rs and aborted the process; now it is refused before dicom-rs reads it.
#[test]
fn a_group_length_covering_a_data_set_element_is_c000_not_a_stack_overflow() {
    let len = 0x0001_424Fu32;
    let mut value = vec![0u8; 4]; // dicom-rs's OB length: 0
    for _ in 0..5_000 {
        value.extend(implicit_header((0x0040, 0xA730), UNDEFINED));
        value.extend(implicit_header((0xFFFE, 0xE000), UNDEFINED));
    }
    value.resize(len as usize, 0);
    let mut file = meta(IMPLICIT_LE);
    let real = group_length(&file);
    file = with_group_length(file, real + 1);
    file.extend(implicit_header((0x0009, 0x1010), len));
    file.extend(value);
    file.extend(implicit_ids());
    assert_group_length_refused(&file, real + 1, real);
}

/// A group length covering the first data set elements: dicom-rs used to swallow them as
/// meta elements (here SOP Class and Instance UIDs: refused for a missing attribute although
/// the walk, and any other reader, sees them in the data set).
#[test]
fn a_group_length_too_long_is_c000() {
    let mut file = meta(EXPLICIT_LE);
    let real = group_length(&file);
    file = with_group_length(file, real + 40);
    file.extend(explicit_ids());
    assert_group_length_refused(&file, real + 40, real);
}

/// A group length short of the last meta element, before an implicit VR data set: dicom-rs
/// used to read that element (explicit VR) as an implicit VR data set element, out of step
/// with the walk ("Could not read data set token").
#[test]
fn a_group_length_too_short_is_c000() {
    let mut file = meta(IMPLICIT_LE);
    let real = group_length(&file);
    // Short by the last element (Implementation Version Name, 8 + 12 bytes).
    file = with_group_length(file, real - 20);
    file.extend(implicit_ids());
    assert_group_length_refused(&file, real - 20, real);
}

/// A group length ending inside an element, or far past the end of the file.
#[test]
fn group_lengths_inside_an_element_or_past_the_end_are_c000() {
    for delta in [3i64, -5, 1 << 30] {
        let mut file = meta(EXPLICIT_LE);
        let real = group_length(&file);
        let says = (i64::from(real) + delta) as u32;
        file = with_group_length(file, says);
        file.extend(explicit_ids());
        assert_group_length_refused(&file, says, real);
    }
}

/// The same file with its true group length is read, whichever the encoding.
#[test]
fn the_true_group_length_is_read() {
    let mut file = meta(IMPLICIT_LE);
    file.extend(implicit_ids());
    let extracted = timed(|| parse(&file).and_then(|p| p.extract())).expect("extracts");
    assert_eq!(extracted.sop_uid.as_str(), "1.2.3.4.5");
    let mut file = meta(EXPLICIT_LE);
    file.extend(explicit_ids());
    let extracted = timed(|| parse(&file).and_then(|p| p.extract())).expect("extracts");
    assert_eq!(extracted.study.patient_id.as_deref(), Some("PID1"));
}

/// An explicit VR that PS3.5 does not define, whose 16-bit length (as the walk read it) holds
/// 3,000 nested sequences that dicom-rs, reading a UN header with a 32-bit length of 0 taken
/// from the value, would have parsed. Before the fix: a stack overflow. Now refused (C000).
#[test]
fn an_unknown_vr_is_c000_not_read_two_ways() {
    let mut value = vec![0u8; 4]; // dicom-rs's 32-bit length: 0
    for _ in 0..3_000 {
        value.extend(explicit_undefined_sequence((0x0040, 0xA730)));
        value.extend(implicit_header((0xFFFE, 0xE000), UNDEFINED));
    }
    assert!(value.len() < 65_536);
    let mut file = meta(EXPLICIT_LE);
    file.extend(explicit_ids());
    file.extend(explicit((0x0009, 0x1010), b"ZZ", &value));
    let err = timed(|| parse(&file)).err().expect("refused");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. } if reason.contains("unknown VR")),
        "{err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND);
}

/// An explicit VR little endian SQ header of undefined length.
fn explicit_undefined_sequence(tag: (u16, u16)) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(b"SQ\0\0");
    out.extend_from_slice(&UNDEFINED.to_le_bytes());
    out
}

/// No group length element at all: refused (C000), as dicom-rs requires one.
#[test]
fn a_meta_group_without_its_group_length_is_c000() {
    let file = meta(EXPLICIT_LE);
    // Drop the 12-byte (0002,0000) element.
    let mut without = file[..132].to_vec();
    without.extend_from_slice(&file[144..]);
    without.extend(explicit_ids());
    let err = timed(|| parse(&without)).err().expect("refused");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. } if reason.contains("(0002,0000)")),
        "{err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND);
}

/// Items of defined length in a sequence of undefined length: the walk skipped their bytes
/// whole, dicom-rs reads them as data sets. Found by the libFuzzer target `dicom_json` (the
/// data set below, 90 bytes; the input is kept in fuzz/corpus/dicom_json/): inside such an
/// item, an element with the VR bytes FF FF, which dicom-rs reads as UN with a 32-bit length
/// taken from the next bytes, and dicom-rs reserved 1.3 GB for its value.
#[test]
fn a_defined_length_item_in_an_undefined_length_sequence_is_checked() {
    let data_set: &[u8] =
        b"\x08\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff\
        \x08\x00\x00\x01SH\x04\x00CODE\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff\
        \xfe\xff\x00\xe0\x0e\x00\x00\x00\x08\x00\xff\xff\xff\xff\xff\xff\xff\xffANIN\
        \xfe\xff\xdd\xe0\x00\x00\x00\x00\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\
        \x00\x00\x00\x00";
    assert_eq!(data_set.len(), 90);
    let mut file = meta(EXPLICIT_LE);
    file.extend_from_slice(data_set);
    let err = timed(|| parse(&file)).err().expect("refused");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. } if reason.contains("invalid explicit VR")),
        "{err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND);
}

/// The nesting limit inside such an item: 5,000 sequences there overflowed the stack inside
/// dicom-rs before the fix.
#[test]
fn nesting_inside_a_defined_length_item_of_an_undefined_length_sequence_is_bounded() {
    let mut inner = Vec::new();
    for _ in 0..5_000 {
        inner.extend(explicit_undefined_sequence((0x0040, 0xA730)));
        inner.extend(implicit_header((0xFFFE, 0xE000), UNDEFINED));
    }
    let mut file = meta(EXPLICIT_LE);
    file.extend(explicit_ids());
    file.extend(explicit_undefined_sequence((0x0040, 0xA730)));
    file.extend(implicit_header((0xFFFE, 0xE000), inner.len() as u32));
    file.extend(inner);
    file.extend(implicit_header((0xFFFE, 0xE0DD), 0));
    let err = timed(|| parse(&file)).err().expect("refused");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. } if reason.contains("nested too deeply")),
        "{err:?}"
    );
}

/// Encapsulated pixel data inside a sequence item (an icon image): its items are fragments,
/// bytes to dicom-rs too, and are not read as data sets.
#[test]
fn fragments_of_nested_pixel_data_are_not_read_as_data_sets() {
    let mut file = meta(EXPLICIT_LE);
    file.extend(explicit_ids());
    let mut icon = Vec::new();
    icon.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
    icon.extend(UNDEFINED.to_le_bytes());
    icon.extend(implicit_header((0xFFFE, 0xE000), 0));
    icon.extend(implicit_header((0xFFFE, 0xE000), 8));
    icon.extend_from_slice(b"\xFF\xD8\xFF\xE0\x00\x10\xFF\xD9");
    icon.extend(implicit_header((0xFFFE, 0xE0DD), 0));
    // Icon Image Sequence (0088,0200), undefined length, one item of defined length.
    file.extend(explicit_undefined_sequence((0x0088, 0x0200)));
    file.extend(implicit_header((0xFFFE, 0xE000), icon.len() as u32));
    file.extend(icon);
    file.extend(implicit_header((0xFFFE, 0xE0DD), 0));
    let extracted = timed(|| parse(&file).and_then(|p| p.extract())).expect("extracts");
    assert_eq!(extracted.sop_uid.as_str(), "1.2.3.4.5");
}

/// An implicit VR element whose length is not a multiple of its dictionary VR's value size:
/// dicom-rs reads whole values only, so it read a group length (gggg,0000), UL, of 15 bytes
/// as 12 and went on three bytes before the walk, where it took `00 16 00 1A` for a length
/// and reserved (and zeroed) 416 MB. Found by the libFuzzer target `dicom_json`; the data
/// set below is its input (kept in fuzz/corpus/dicom_json/) after the file meta group.
#[test]
fn an_implicit_vr_length_not_a_multiple_of_the_dictionary_vr_is_c000() {
    let data_set: &[u8] =
        b"\x05:\x00\x00\x0f\x00\x00\x00\x5cISO 2022 IR 87\x08\x00\x16\x00\x1a\x00\
        \x00\x00\x02\x002.840.10008.5.1.4.1.1.7/\x08\x00\x18\x00\x0a\x00\x00\x001.2.3.4.5\x00 \x00\
        \x0d\x00\x08\x00\x00\x001.2.3.4\x00 \x00\x0e\x00\x0a\x00\x00\x001.2.3.4.1\x00\x00\x0e\x10\
        \x00\x22\x00\x00\x00Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B(\x00\x10\x00\x02\x00\
        \x00\x00\x02\x00(\x00\x11\x00\x02\x00\x00\x00\x02\x00(\x00\x00\x01\x02\x00\x00\x00\x08\
        \x00(\x00\x02\x00\x02\x00\x00\x00\x01\x00\xe0\x7f\x10\x00\x04\x00\x00\x00\x01\x02\x03\x04";
    assert_eq!(data_set.len(), 203);
    let mut file = meta(IMPLICIT_LE);
    file.extend_from_slice(data_set);
    let err = timed(|| parse(&file)).err().expect("refused");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. }
            if reason.contains("length is not a multiple of the value's size")),
        "{err:?}"
    );
    // The same element with a length that is a multiple is read.
    let mut file = meta(IMPLICIT_LE);
    file.extend(implicit((0x0009, 0x0000), &[4, 0, 0, 0]));
    file.extend(implicit_ids());
    file.extend(implicit((0x0028, 0x0010), &[2, 0]));
    let extracted = timed(|| parse(&file).and_then(|p| p.extract())).expect("extracts");
    assert_eq!(extracted.instance.rows, Some(2));
    let mut file = meta(IMPLICIT_LE);
    file.extend(implicit_ids());
    file.extend(implicit((0x0028, 0x0010), &[2, 0, 0]));
    assert!(timed(|| parse(&file)).is_err(), "Rows (US) of 3 bytes");
}

/// A deflated data set from a corrupt stream: inflated by the check it gave 40 bytes, which
/// the walk read as implicit VR; inflated again by dicom-rs as it read, it gave bytes beyond
/// those, read as explicit VR, and dicom-rs reserved 1.4 GB for a length in them. Found by the
/// libFuzzer target `dicom_json` (this compressed stream after the file meta group; kept in
/// fuzz/corpus/dicom_json/). Now dicom-rs reads the bytes inflated and checked once, and a
/// deflated data set must be explicit VR as its transfer syntax says.
#[test]
fn a_deflated_data_set_is_read_as_inflated_and_checked_once() {
    let compressed: &[u8] = b"\xe3\x21\x60\x10\x4f\x5f\x49\x08\xc8\x0c\x00\x04\x00\x00\x00\x00\
        \x0d\x0d\x0d\x0d\x0d\x0d\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\
        \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\
        \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0d\x0d\
        \x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\xff\xff\xff\xff\
        \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0d\x0d\x0d\
        \x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x0d\x94\x62\
        \x30\xd0";
    assert_eq!(compressed.len(), 114);
    let mut file = meta(DEFLATED_LE);
    file.extend_from_slice(compressed);
    let err = timed(|| parse(&file)).err().expect("refused");
    assert!(
        matches!(&err, DicomError::Malformed { reason, .. }
            if reason.contains("in the deflated data set") && reason.contains("implicit VR")),
        "{err:?}"
    );
    assert_eq!(err.failure_reason(), StatusCode::CANNOT_UNDERSTAND);
}
