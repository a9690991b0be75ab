//! Test support for the hostile-input property tests (issue 17): the proptest configuration
//! and valid files from `testdata/` mutated the way broken writers and attackers break them
//! (bytes overwritten, truncation, a length field overwritten).
//!
//! The property tests themselves sit beside the code they test (`layout/tests/proptests.rs`,
//! `charset/proptests.rs`, `extract/proptests.rs`, `json/proptests.rs`). They run a short
//! number of cases by default; `PROPTEST_CASES` runs more (`scripts/fuzz.sh`).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;

/// `default_cases` cases, unless `PROPTEST_CASES` says otherwise. No regression files are
/// written into the source tree: a failure prints its minimal input, which becomes a test.
pub(crate) fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
        // The test command's run is the same on every machine (a found input stays found);
        // scripts/fuzz.sh, which sets PROPTEST_CASES, explores with fresh seeds.
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x7e55e7a);
    }
    // Some properties skip inputs that do not fit them (`prop_assume!`): allow for those in
    // long runs.
    config.max_global_rejects = config.max_global_rejects.max(config.cases);
    config
}

/// Longest any one parse of a small input may take, even in a debug build on a busy machine.
pub(crate) const TIME_BOUND: Duration = Duration::from_secs(5);

/// Runs `f`, and fails if it took longer than [`TIME_BOUND`].
pub(crate) fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    prop_assert!(took < TIME_BOUND, "{what} took {took:?}");
    Ok(out)
}

/// Small valid files covering each encoding and structure the parsers meet.
pub(crate) const SEEDS: [(&str, &[u8]); 11] = [
    // Explicit VR little endian, native, ISO_IR 192.
    (
        "SC_rgb_small_odd.dcm",
        include_bytes!("../../../../testdata/SC_rgb_small_odd.dcm"),
    ),
    // Explicit VR big endian.
    (
        "SC_rgb_small_odd_big_endian.dcm",
        include_bytes!("../../../../testdata/SC_rgb_small_odd_big_endian.dcm"),
    ),
    // ISO 2022: JIS X 0201 + JIS X 0208 with escape sequences.
    (
        "chrH32.dcm",
        include_bytes!("../../../../testdata/chrH32.dcm"),
    ),
    // ISO 2022: KS X 1001.
    (
        "chrI2.dcm",
        include_bytes!("../../../../testdata/chrI2.dcm"),
    ),
    // GB18030.
    (
        "chrX2.dcm",
        include_bytes!("../../../../testdata/chrX2.dcm"),
    ),
    // Sequences nested several levels.
    (
        "rtplan.dcm",
        include_bytes!("../../../../testdata/rtplan.dcm"),
    ),
    (
        "test-SR.dcm",
        include_bytes!("../../../../testdata/test-SR.dcm"),
    ),
    // Encapsulated (RLE), two frames.
    (
        "SC_rgb_rle_2frame.dcm",
        include_bytes!("../../../../testdata/SC_rgb_rle_2frame.dcm"),
    ),
    // Encapsulated JPEG 2000 with a sequence delimiter inside a fragment.
    (
        "JPEG2000-embedded-sequence-delimiter.dcm",
        include_bytes!("../../../../testdata/JPEG2000-embedded-sequence-delimiter.dcm"),
    ),
    // Deflated Explicit VR little endian.
    (
        "image_dfl.dcm",
        include_bytes!("../../../../testdata/image_dfl.dcm"),
    ),
    // Implicit VR little endian, 15 native frames.
    (
        "rtdose.dcm",
        include_bytes!("../../../../testdata/rtdose.dcm"),
    ),
];

/// VRs with a 32-bit length in explicit VR (PS3.5 7.1.2).
const LONG_VRS: [&[u8; 2]; 13] = [
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV",
];
/// The other VRs (16-bit length).
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

/// Where a length field probably is: `(offset, width in bytes)`. Found by looking for VRs
/// and item tags, so lengths inside sequences and pixel data items are found too; for
/// implicit VR data sets, the top-level lengths from the layout walk.
pub(crate) fn length_fields(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 4..bytes.len().saturating_sub(4) {
        let pair = &bytes[i..i + 2];
        if LONG_VRS.iter().any(|vr| vr.as_slice() == pair) && bytes[i + 2..i + 4] == [0, 0] {
            out.push((i + 4, 4));
        } else if SHORT_VRS.iter().any(|vr| vr.as_slice() == pair) {
            out.push((i + 2, 2));
        }
        let tag = &bytes[i - 4..i];
        let item = [0xFE, 0xFF, 0x00, 0xE0];
        let item_big = [0xFF, 0xFE, 0xE0, 0x00];
        if tag == item || tag == item_big {
            out.push((i, 4));
        }
    }
    if let Ok(layout) = crate::layout::walk(bytes) {
        for element in layout.elements.iter().filter(|e| e.vr.is_none()) {
            if let Ok(at) = usize::try_from(element.value_offset) {
                if at >= 4 {
                    out.push((at - 4, 4));
                }
            }
        }
    }
    out
}

/// One change to a file.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Overwrite one byte.
    Byte { at: Index, value: u8 },
    /// Flip some bits of one byte.
    Flip { at: Index, mask: u8 },
    /// Cut the file.
    Truncate { at: Index },
    /// Overwrite four bytes anywhere with a little endian value.
    Word { at: Index, value: u32 },
    /// Overwrite a length field found by [`length_fields`].
    Length { which: Index, value: u32 },
}

/// Lengths worth trying: any, and the ones parsers get wrong.
pub(crate) fn hostile_length() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => any::<u32>(),
        1 => Just(0xFFFF_FFFF),
        1 => Just(0xFFFF_FFFE),
        1 => Just(0x8000_0000),
        1 => Just(0),
        2 => 1u32..64,
        1 => 0xFFFF_FF00u32..=0xFFFF_FFFF,
    ]
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
        2 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<Index>(), hostile_length())
            .prop_map(|(at, value)| Mutation::Word { at, value }),
        3 => (any::<Index>(), hostile_length())
            .prop_map(|(which, value)| Mutation::Length { which, value }),
    ]
}

/// `bytes` with the mutations applied in order.
pub(crate) fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in mutations {
        if out.is_empty() {
            break;
        }
        match m {
            Mutation::Byte { at, value } => {
                let i = at.index(out.len());
                out[i] = *value;
            }
            Mutation::Flip { at, mask } => {
                let i = at.index(out.len());
                out[i] ^= mask;
            }
            Mutation::Truncate { at } => {
                let i = at.index(out.len());
                out.truncate(i);
            }
            Mutation::Word { at, value } => {
                let i = at.index(out.len());
                let end = (i + 4).min(out.len());
                out[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
            }
            Mutation::Length { which, value } => {
                let fields = length_fields(&out);
                if fields.is_empty() {
                    continue;
                }
                let (at, width) = fields[which.index(fields.len())];
                let big = out.get(128..132) == Some(b"DICM")
                    && crate::layout::walk(&out).is_ok_and(|l| {
                        l.encoding == crate::layout::DatasetEncoding::ExplicitBig
                            && at >= usize::try_from(l.dataset_offset).unwrap_or(usize::MAX)
                    });
                let bytes = if big {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                let bytes = match (width, big) {
                    (4, _) => &bytes[..],
                    (_, false) => &bytes[..2],
                    (_, true) => &bytes[2..],
                };
                let end = (at + bytes.len()).min(out.len());
                out[at..end].copy_from_slice(&bytes[..end - at]);
            }
        }
    }
    out
}

/// A seed file (by name) and the mutations to apply to it.
pub(crate) fn mutated_seed() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (0..SEEDS.len(), proptest::collection::vec(mutation(), 1..5)).prop_map(|(seed, mutations)| {
        let (name, bytes) = SEEDS[seed];
        (name, mutate(bytes, &mutations))
    })
}

/// The file meta information of a Part 10 file with this transfer syntax, for arbitrary data
/// sets to follow.
pub(crate) fn meta_for(transfer_syntax: &str) -> Vec<u8> {
    crate::part10::file_meta("1.2.3", "1.2.3.4", transfer_syntax, None)
}

/// Transfer syntaxes the parsers treat differently.
pub(crate) const TRANSFER_SYNTAXES: [&str; 6] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.5",
];

/// Arbitrary bytes, alone or after a valid file meta group (so the data set parsers see them).
pub(crate) fn arbitrary_file() -> impl Strategy<Value = Vec<u8>> {
    let body = proptest::collection::vec(any::<u8>(), 0..1024);
    prop_oneof![
        body.clone(),
        (0..TRANSFER_SYNTAXES.len(), body).prop_map(|(ts, body)| {
            let mut file = meta_for(TRANSFER_SYNTAXES[ts]);
            file.extend_from_slice(&body);
            file
        }),
    ]
}

/// Tags the parsers look at, and delimiters.
const TAGS: [(u16, u16); 24] = [
    (0x0008, 0x0005),
    (0x0008, 0x0016),
    (0x0008, 0x0018),
    (0x0008, 0x0060),
    (0x0008, 0x1140),
    (0x0010, 0x0010),
    (0x0010, 0x0020),
    (0x0020, 0x000D),
    (0x0020, 0x000E),
    (0x0020, 0x0013),
    (0x0028, 0x0002),
    (0x0028, 0x0004),
    (0x0028, 0x0008),
    (0x0028, 0x0010),
    (0x0028, 0x0011),
    (0x0028, 0x0100),
    (0x0009, 0x1010),
    (0x7FE0, 0x0001),
    (0x7FE0, 0x0002),
    (0x7FE0, 0x0010),
    (0xFFFE, 0xE000),
    (0xFFFE, 0xE00D),
    (0xFFFE, 0xE0DD),
    (0xFFFC, 0xFFFC),
];

/// Values the parsers look at: UIDs, numbers, character sets, escape sequences, JPEG markers.
const VALUES: [&[u8]; 14] = [
    b"1.2.840.10008.5.1.4.1.1.7\0",
    b"1.2.3.4.5",
    b"2 ",
    b"4294967296",
    b"-1",
    b"\x00\x01",
    b"\xFF\xFF",
    b"ISO_IR 192",
    b"\\ISO 2022 IR 87\\ISO 2022 IR 149",
    b"\x1b$B;3\x1b(B^\x1b$)C\xc8\xab",
    b"\xff\xfe\xfd",
    b"Doe^John=\xe5\xb1\xb1=",
    b"\xFF\xD8\xFF\xE0",
    b"MONOCHROME2 ",
];

/// One piece of a hand-made data set.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    /// An element; `length: None` writes the value's true length.
    Element {
        tag: (u16, u16),
        vr: [u8; 2],
        value: Vec<u8>,
        length: Option<u32>,
    },
    /// An element header of undefined length (a sequence, UN or encapsulated pixel data).
    Undefined {
        tag: (u16, u16),
        vr: [u8; 2],
    },
    /// An item header (FFFE,E000) of this length, or undefined.
    Item {
        length: Option<u32>,
    },
    ItemEnd,
    SequenceEnd,
}

fn vr() -> impl Strategy<Value = [u8; 2]> {
    prop_oneof![
        3 => proptest::sample::select(
            LONG_VRS.iter().chain(SHORT_VRS.iter()).map(|v| **v).collect::<Vec<_>>()
        ),
        1 => any::<[u8; 2]>(),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    let tag = prop_oneof![
        4 => proptest::sample::select(TAGS.to_vec()),
        1 => any::<(u16, u16)>(),
    ];
    let value = prop_oneof![
        2 => proptest::sample::select(VALUES.to_vec()).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ];
    let length = prop_oneof![4 => Just(None), 1 => hostile_length().prop_map(Some)];
    prop_oneof![
        6 => (tag.clone(), vr(), value, length.clone())
            .prop_map(|(tag, vr, value, length)| Piece::Element { tag, vr, value, length }),
        1 => (tag, vr()).prop_map(|(tag, vr)| Piece::Undefined { tag, vr }),
        1 => prop_oneof![Just(None), (0u32..32).prop_map(Some)]
            .prop_map(|length| Piece::Item { length }),
        1 => Just(Piece::ItemEnd),
        1 => Just(Piece::SequenceEnd),
    ]
}

/// Writes pieces in explicit or implicit VR, little or big endian.
pub(crate) fn encode(pieces: &[Piece], explicit: bool, big: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let header = |out: &mut Vec<u8>, tag: (u16, u16), vr: [u8; 2], len: u32| {
        out.extend_from_slice(&u16b(tag.0));
        out.extend_from_slice(&u16b(tag.1));
        if explicit && tag.0 != 0xFFFE {
            out.extend_from_slice(&vr);
            if LONG_VRS.contains(&&vr) {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&u32b(len));
            } else {
                out.extend_from_slice(&u16b(len as u16));
            }
        } else {
            out.extend_from_slice(&u32b(len));
        }
    };
    for piece in pieces {
        match piece {
            Piece::Element {
                tag,
                vr,
                value,
                length,
            } => {
                let len = length.unwrap_or(value.len() as u32);
                header(&mut out, *tag, *vr, len);
                out.extend_from_slice(value);
            }
            Piece::Undefined { tag, vr } => header(&mut out, *tag, *vr, 0xFFFF_FFFF),
            Piece::Item { length } => header(
                &mut out,
                (0xFFFE, 0xE000),
                *b"  ",
                length.unwrap_or(0xFFFF_FFFF),
            ),
            Piece::ItemEnd => header(&mut out, (0xFFFE, 0xE00D), *b"  ", 0),
            Piece::SequenceEnd => header(&mut out, (0xFFFE, 0xE0DD), *b"  ", 0),
        }
    }
    out
}

/// A Part 10 file whose data set is made of generated pieces in its transfer syntax's
/// encoding: most pieces are well formed, so the parsers get past the first element.
pub(crate) fn element_soup() -> impl Strategy<Value = Vec<u8>> {
    (
        0..TRANSFER_SYNTAXES.len(),
        proptest::collection::vec(piece(), 0..24),
    )
        .prop_map(|(ts, pieces)| {
            let ts = TRANSFER_SYNTAXES[ts];
            let mut file = meta_for(ts);
            let explicit = ts != "1.2.840.10008.1.2";
            let big = ts == "1.2.840.10008.1.2.2";
            file.extend_from_slice(&encode(&pieces, explicit, big));
            file
        })
}
