//! Any input yields a layout or an error, never a panic: every truncation, random
//! mutations.

use super::*;

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
