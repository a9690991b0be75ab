//! The `{frames}` path segment (PS3.18 8.3.3.1 and 10.4.1.1.3): a comma-separated list of
//! 1-based frame numbers, in the order the client wants them back.

use crate::frames::FrameError;

/// Most frame numbers one request may name.
pub const MAX_FRAMES_PER_REQUEST: usize = 10_000;

/// Parse `1`, `1,3,7` (spaces around numbers tolerated). Zero, empty items, signs and
/// anything that is not a decimal number are malformed.
pub fn parse_frame_list(raw: &str) -> Result<Vec<u32>, FrameError> {
    let bad = |why: &str| FrameError::BadRequest(format!("frame list {raw:?}: {why}"));
    let mut frames = Vec::new();
    for item in raw.split(',') {
        let item = item.trim();
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected 1-based frame numbers separated by commas"));
        }
        let number: u32 = item.parse().map_err(|_| bad("frame number too large"))?;
        if number == 0 {
            return Err(bad("frame numbers start at 1"));
        }
        frames.push(number);
        if frames.len() > MAX_FRAMES_PER_REQUEST {
            return Err(bad("too many frames in one request"));
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(parse_frame_list("1").unwrap(), vec![1]);
        assert_eq!(parse_frame_list("1,3,7").unwrap(), vec![1, 3, 7]);
        assert_eq!(parse_frame_list("2, 1").unwrap(), vec![2, 1]);
        for bad in [
            "",
            "0",
            "1,,2",
            "a",
            "-1",
            "+1",
            "1.5",
            "1;2",
            "99999999999",
        ] {
            assert!(parse_frame_list(bad).is_err(), "{bad:?}");
        }
    }
}
