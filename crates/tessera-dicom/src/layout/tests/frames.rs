//! Frame location in encapsulated pixel data: with and without offset tables, markers,
//! errors.

use super::*;
use dicom_dictionary_std::uids;

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
    let f = file(uids::JPEG_BASELINE8_BIT, &w.buf);
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
    let f = file(uids::JPEG_BASELINE8_BIT, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
    // Something other than an item.
    let mut w = W::new(true, false);
    w.undef(0x7FE0, 0x0010, b"OB")
        .item(0)
        .el(0x0008, 0x0060, b"CS", b"MR");
    let f = file(uids::JPEG_BASELINE8_BIT, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Malformed { .. })));
    // Missing sequence delimiter.
    let mut w = W::new(true, false);
    w.undef(0x7FE0, 0x0010, b"OB").item(0).item(2).raw(&[1, 2]);
    let f = file(uids::JPEG_BASELINE8_BIT, &w.buf);
    assert!(matches!(walk(&f), Err(LayoutError::Truncated { .. })));
}
