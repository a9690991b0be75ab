//! RLE Lossless (PS3.5 Annex G) decoding of one frame, for any Bits Allocated that is a
//! whole number of bytes (dicom-rs decodes only 8 and 16; RT Dose is 32).
//!
//! A frame is a 64-byte header (number of segments, then up to 15 segment offsets) and
//! PackBits segments, one per byte of each sample, most significant byte first, samples in
//! order (G.2). The result is little endian with interleaved samples (Planar Configuration
//! 0), as native data is expected after decoding.

use crate::frames::FrameError;

fn bad(reason: impl Into<String>) -> FrameError {
    FrameError::Undecodable(format!("RLE: {}", reason.into()))
}

/// Decode one PackBits segment into `out` (exactly `out.len()` bytes; short input is an
/// error, extra input is ignored).
fn unpack(segment: &[u8], out: &mut [u8]) -> Result<(), FrameError> {
    let (mut i, mut o) = (0usize, 0usize);
    while o < out.len() {
        let Some(&header) = segment.get(i) else {
            return Err(bad(format!(
                "segment ends after {o} of {} bytes",
                out.len()
            )));
        };
        i += 1;
        let n = header as i8;
        if n >= 0 {
            let count = n as usize + 1;
            let literal = segment
                .get(i..i + count)
                .ok_or_else(|| bad("literal run past the end of the segment"))?;
            let room = (out.len() - o).min(count);
            out[o..o + room].copy_from_slice(&literal[..room]);
            o += room;
            i += count;
        } else if n != -128 {
            let count = (-(n as isize)) as usize + 1;
            let value = *segment
                .get(i)
                .ok_or_else(|| bad("replicate run past the end of the segment"))?;
            let room = (out.len() - o).min(count);
            out[o..o + room].fill(value);
            o += room;
            i += 1;
        }
    }
    Ok(())
}

/// Decode one RLE frame of `pixels` pixels with `samples` samples of `bytes_per_sample`.
pub fn decode(
    frame: &[u8],
    pixels: usize,
    samples: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u8>, FrameError> {
    let header = frame
        .get(..64)
        .ok_or_else(|| bad("frame shorter than its header"))?;
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let segments = word(0) as usize;
    let expected = samples * bytes_per_sample;
    if segments != expected || segments == 0 || segments > 15 {
        return Err(bad(format!(
            "{segments} segments where {expected} are expected"
        )));
    }
    let offsets: Vec<usize> = (1..=segments).map(|i| word(i * 4) as usize).collect();
    let mut out = vec![0u8; pixels * expected];
    let mut plane = vec![0u8; pixels];
    for (s, &start) in offsets.iter().enumerate() {
        let end = offsets.get(s + 1).copied().unwrap_or(frame.len());
        let segment = frame
            .get(start..end.max(start).min(frame.len()))
            .ok_or_else(|| bad("segment offset past the end of the frame"))?;
        unpack(segment, &mut plane)?;
        // Segment s holds byte (most significant first) `s % bytes` of sample `s / bytes`.
        let (sample, byte) = (s / bytes_per_sample, s % bytes_per_sample);
        let position = sample * bytes_per_sample + (bytes_per_sample - 1 - byte);
        for (p, &value) in plane.iter().enumerate() {
            out[p * expected + position] = value;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(segments: &[&[u8]]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = 64u32;
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            header[4 + i * 4..8 + i * 4].copy_from_slice(&offset.to_le_bytes());
            offset += s.len() as u32;
            body.extend_from_slice(s);
        }
        header.extend(body);
        header
    }

    #[test]
    fn packbits_runs() {
        let mut out = [0u8; 6];
        // literal of 2, replicate 3 times, no-op, literal of 1
        unpack(&[1, 7, 8, 0xFE, 9, 0x80, 0, 5], &mut out).unwrap();
        assert_eq!(out, [7, 8, 9, 9, 9, 5]);
        assert!(unpack(&[1, 7], &mut out).is_err());
    }

    #[test]
    fn sixteen_and_thirty_two_bit() {
        // Two 16-bit pixels 0x0102, 0x0304: MSB segment [1,3], LSB segment [2,4].
        let f = frame(&[&[1, 1, 3], &[1, 2, 4]]);
        assert_eq!(decode(&f, 2, 1, 2).unwrap(), vec![2, 1, 4, 3]);
        // One 32-bit pixel 0x0A0B0C0D.
        let f = frame(&[&[0, 0x0A], &[0, 0x0B], &[0, 0x0C], &[0, 0x0D]]);
        assert_eq!(decode(&f, 1, 1, 4).unwrap(), vec![0x0D, 0x0C, 0x0B, 0x0A]);
        // RGB 8-bit, two pixels: R, G, B segments, interleaved out.
        let f = frame(&[&[1, 1, 2], &[1, 3, 4], &[1, 5, 6]]);
        assert_eq!(decode(&f, 2, 3, 1).unwrap(), vec![1, 3, 5, 2, 4, 6]);
        assert!(decode(&f, 2, 1, 1).is_err());
    }
}
