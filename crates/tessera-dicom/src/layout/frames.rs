//! Frame location: the byte ranges holding each frame of the top-level Pixel Data, native
//! (fixed-size frames) or encapsulated (Basic or Extended Offset Table, else one fragment per
//! frame, else fragments grouped at codec start markers), so one frame can be served by a
//! range read.

use super::read::*;
use super::walk::{element_value, find_element};
use super::{DatasetEncoding, ElementLayout, Fragment, LayoutError, Part10Layout, PixelDataLayout};

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
