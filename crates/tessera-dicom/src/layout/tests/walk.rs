//! The element walk: encodings, nesting, meta groups, malformed structures.

use super::*;
use crate::limits::ParseLimits;
use dicom_dictionary_std::uids;

#[test]
fn explicit_little_native() {
    let f = explicit_native();
    let l = walk(&f).unwrap();
    assert!(l.has_preamble);
    assert_eq!(l.encoding, DatasetEncoding::ExplicitLittle);
    assert_eq!(l.transfer_syntax, uids::EXPLICIT_VR_LITTLE_ENDIAN);
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
    let mut f = meta(uids::EXPLICIT_VR_LITTLE_ENDIAN, false, false);
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
    let f = meta(uids::IMPLICIT_VR_LITTLE_ENDIAN, true, true);
    let l = walk(&f).unwrap();
    assert_eq!(l.transfer_syntax, uids::IMPLICIT_VR_LITTLE_ENDIAN);
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
    let mut f = file(uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, &[]);
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
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
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
    let f = file(crate::uid::EXPLICIT_VR_BIG_ENDIAN, &w.buf);
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
        file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf)
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

#[test]
fn depth_limit() {
    let depth = ParseLimits::DEFAULT_SEQUENCE_DEPTH;
    let mut w = W::new(true, false);
    for _ in 0..(depth + 2) {
        w.undef(0x0008, 0x1140, b"SQ").item(UNDEFINED_LENGTH);
    }
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert!(matches!(
        walk(&f),
        Err(LayoutError::TooDeep { limit: 64, .. })
    ));
    assert!(walk(&f)
        .unwrap_err()
        .to_string()
        .ends_with("sequences nested too deeply (more than 64 levels)"));
    // Within the limit it works.
    let mut w = W::new(false, false);
    for _ in 0..(depth - 1) {
        w.undef(0x0008, 0x1140, b"SQ").item(UNDEFINED_LENGTH);
    }
    for _ in 0..(depth - 1) {
        w.item_end().seq_end();
    }
    let f = file(uids::IMPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert_eq!(walk(&f).unwrap().elements.len(), 1);
}

/// Exactly `limit` levels are walked, one more is refused, for limits set either way, for
/// sequences of undefined and of defined length.
#[test]
fn depth_limit_is_configurable() {
    let nested = |levels: usize, defined: bool| {
        let mut w = W::new(true, false);
        if defined {
            // Innermost first: each level an SQ of defined length holding one item.
            let mut inner: Vec<u8> = Vec::new();
            for _ in 0..levels {
                let mut level = W::new(true, false);
                level.head(0x0008, 0x1140, b"SQ", inner.len() as u32 + 8);
                level.item(inner.len() as u32).raw(&inner);
                inner = level.buf;
            }
            w.raw(&inner);
        } else {
            for _ in 0..levels {
                w.undef(0x0008, 0x1140, b"SQ").item(UNDEFINED_LENGTH);
            }
            for _ in 0..levels {
                w.item_end().seq_end();
            }
        }
        file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf)
    };
    for limit in [1, 3, 100, ParseLimits::MAX_SEQUENCE_DEPTH] {
        let limits = ParseLimits::with_sequence_depth(limit);
        for defined in [false, true] {
            assert!(
                walk_with(&nested(limit, defined), &limits).is_ok(),
                "{limit} {defined}"
            );
            match walk_with(&nested(limit + 1, defined), &limits) {
                Err(LayoutError::TooDeep { limit: l, .. }) => assert_eq!(l, limit),
                other => panic!("{limit} {defined}: {other:?}"),
            }
        }
    }
    // A limit above the ceiling is the ceiling.
    assert_eq!(
        ParseLimits::with_sequence_depth(100_000).max_sequence_depth,
        ParseLimits::MAX_SEQUENCE_DEPTH
    );
}

#[test]
fn lengths_past_the_end_are_truncated() {
    // Odd length running past the end.
    let mut w = W::new(true, false);
    w.head(0x0010, 0x0010, b"PN", 7).raw(b"Doe");
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
    // Huge 32-bit length.
    let mut w = W::new(false, false);
    w.head(0x7FE0, 0x0010, b"OW", 0xFFFF_FFF0).raw(&[0; 8]);
    let f = file(uids::IMPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
    // An odd length that fits is tolerated.
    let mut w = W::new(true, false);
    w.el(0x0010, 0x0010, b"PN", b"Doe");
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert_eq!(walk(&f).unwrap().elements.len(), 1);
}

#[test]
fn stray_delimiters_are_malformed() {
    let mut w = W::new(true, false);
    w.seq_end();
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
    let mut w = W::new(true, false);
    w.undef(0x0008, 0x1140, b"SQ")
        .el(0x0008, 0x0060, b"CS", b"MR");
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
}

#[test]
fn implicit_data_labelled_explicit() {
    let mut w = W::new(false, false);
    w.el(0x0008, 0x0060, b"CS", b"MR")
        .el(0x0010, 0x0010, b"PN", b"Doe^J ");
    let f = file(uids::EXPLICIT_VR_LITTLE_ENDIAN, &w.buf);
    let l = walk(&f).unwrap();
    assert_eq!(l.encoding, DatasetEncoding::ImplicitLittle);
    assert_eq!(tags(&l), vec![(0x0008, 0x0060), (0x0010, 0x0010)]);
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
