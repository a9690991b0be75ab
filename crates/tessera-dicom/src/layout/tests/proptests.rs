//! Property tests of the walk and the frame locator (issue 17): arbitrary bytes, generated
//! data sets, mutated hand-made and real files never panic; whatever they return points
//! inside the file; valid native files give exactly the frames asked for.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::layout::hostile::{self, bounded};
use dicom_dictionary_std::uids;

/// Hand-made files of `tests/mod.rs`, the seeds of the mutations below with the real ones.
fn synthetic() -> Vec<Vec<u8>> {
    vec![
        explicit_native(),
        implicit_nested(),
        encapsulated(&[0, 22], &[&[1, 2, 3, 4], &[5, 6], &[7, 8]], None),
        encapsulated(
            &[],
            &[&[0xFF, 0xD8], &[5, 6]],
            Some((&[0u64, 10], &[2u64, 2])),
        ),
    ]
}

/// Walk, then locate frames with several counts and frame lengths; check what comes back.
fn walk_and_locate(bytes: &[u8], frames: u32, frame_len: Option<u64>) -> Result<(), TestCaseError> {
    let Ok(layout) = bounded("walk", || walk(bytes))? else {
        return Ok(());
    };
    let len = bytes.len() as u64;
    prop_assert!(layout.dataset_offset <= len);
    for element in layout.meta.iter().chain(&layout.elements) {
        prop_assert!(element.value_offset <= len, "{element:?}");
        if let Some(l) = element.value_length {
            prop_assert!(element.value_offset + l <= len, "{element:?} past the end");
        }
    }
    let _ = number_of_frames(&layout, bytes);
    let _ = native_frame_length(&layout, bytes);
    let declared = number_of_frames(&layout, bytes).unwrap_or(1);
    for (n, native) in [
        (declared, None),
        (frames, None),
        (frames, frame_len),
        (1, frame_len),
    ] {
        let located = bounded("frame_ranges", || frame_ranges(&layout, bytes, n, native))?;
        if let Ok(ranges) = located {
            prop_assert_eq!(ranges.len() as u64, u64::from(n));
            for (offset, length) in ranges.iter().flatten() {
                prop_assert!(
                    offset.checked_add(*length).is_some_and(|end| end <= len),
                    "frame range {offset}+{length} past {len}"
                );
            }
        }
    }
    Ok(())
}

fn frame_count() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0u32..20, 1 => any::<u32>(), 1 => Just(u32::MAX)]
}

fn frame_length() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        2 => Just(None),
        2 => (0u64..64).prop_map(Some),
        1 => any::<u64>().prop_map(Some),
        1 => Just(Some(u64::MAX)),
    ]
}

proptest! {
    #![proptest_config(hostile::config(256))]

    #[test]
    fn arbitrary_bytes(
        bytes in hostile::arbitrary_file(),
        n in frame_count(),
        l in frame_length(),
    ) {
        walk_and_locate(&bytes, n, l)?;
        // Also without the preamble: DICM first.
        if bytes.len() > 128 {
            walk_and_locate(&bytes[128..], n, l)?;
        }
    }

    #[test]
    fn generated_data_sets(
        bytes in hostile::element_soup(),
        n in frame_count(),
        l in frame_length(),
    ) {
        walk_and_locate(&bytes, n, l)?;
    }

    #[test]
    fn mutated_real_files(
        (_name, bytes) in hostile::mutated_seed(),
        n in frame_count(),
        l in frame_length(),
    ) {
        walk_and_locate(&bytes, n, l)?;
    }

    #[test]
    fn mutated_hand_made_files(
        seed in 0..4usize,
        mutations in proptest::collection::vec(hostile::mutation(), 1..5),
        n in frame_count(),
        l in frame_length(),
    ) {
        let bytes = hostile::mutate(&synthetic()[seed], &mutations);
        walk_and_locate(&bytes, n, l)?;
    }

    /// Native pixel data of `frames` frames of `rows` x `columns` x `samples` x `bits`: every
    /// frame is found where it is, and one frame too many is an error.
    #[test]
    fn native_frames_are_found(
        rows in 1u16..6,
        columns in 1u16..6,
        samples in 1u16..4,
        bits in prop_oneof![Just(1u16), Just(8), Just(16), Just(32)],
        frames in 1u32..5,
        extra in 0usize..4,
        big in any::<bool>(),
    ) {
        let frame_bits =
            u64::from(rows) * u64::from(columns) * u64::from(samples) * u64::from(bits);
        prop_assume!(frame_bits % 8 == 0);
        let frame = frame_bits / 8;
        let mut w = W::new(true, big);
        w.us(0x0028, 0x0002, samples)
            .el(0x0028, 0x0008, b"IS", format!("{frames:<2}").as_bytes())
            .us(0x0028, 0x0010, rows)
            .us(0x0028, 0x0011, columns)
            .us(0x0028, 0x0100, bits);
        let mut pixels = vec![0u8; (frame * u64::from(frames)) as usize + extra];
        if pixels.len() % 2 == 1 {
            pixels.push(0);
        }
        w.el(0x7FE0, 0x0010, b"OB", &pixels);
        let ts = if big {
            crate::uid::EXPLICIT_VR_BIG_ENDIAN
        } else {
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        };
        let f = file(ts, &w.buf);
        let l = walk(&f).unwrap();
        prop_assert_eq!(number_of_frames(&l, &f), Ok(frames));
        prop_assert_eq!(native_frame_length(&l, &f), Ok(frame));
        let start = (f.len() - pixels.len()) as u64;
        let expected: Vec<Vec<(u64, u64)>> = (0..u64::from(frames))
            .map(|i| vec![(start + i * frame, frame)])
            .collect();
        prop_assert_eq!(frame_ranges(&l, &f, frames, None).unwrap(), expected);
        let too_many = frames + 1 + (pixels.len() as u64 / frame) as u32;
        prop_assert!(frame_ranges(&l, &f, too_many, None).is_err());
    }

    /// Cutting a valid real file anywhere never panics the walk or the locator.
    #[test]
    fn truncated_real_files(
        seed in 0..hostile::SEEDS.len(),
        cut in any::<Index>(),
        n in frame_count(),
    ) {
        let (_, bytes) = hostile::SEEDS[seed];
        walk_and_locate(&bytes[..cut.index(bytes.len())], n, None)?;
    }
}
