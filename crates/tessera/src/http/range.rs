//! HTTP Range requests on single-part bulk data (RFC 9110 14.2; PS3.18 8.3.5.1 lets clients
//! fetch part of a large value). One `bytes` range is honoured, the unit in any case (RFC 9110
//! 14.1: range units are case-insensitive); anything else (several ranges, other units,
//! malformed) is ignored and the whole value sent, as RFC 9110 allows.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable Range: send everything (200).
    Full,
    /// Send these bytes (206).
    Partial(Range<u64>),
    /// No byte of the range exists (416).
    Unsatisfiable,
}

/// Interpret a Range header for a value of `length` bytes.
pub fn parse(header: Option<&str>, length: u64) -> RangeRequest {
    let spec = header.and_then(|h| {
        let (unit, spec) = h.trim().split_once('=')?;
        unit.eq_ignore_ascii_case("bytes").then_some(spec)
    });
    let Some(spec) = spec else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match number(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if length == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial(length.saturating_sub(n)..length),
            None => RangeRequest::Full,
        },
        // bytes=a-: from a to the end.
        (false, true) => match number(first) {
            Some(a) if a >= length => RangeRequest::Unsatisfiable,
            Some(a) => RangeRequest::Partial(a..length),
            None => RangeRequest::Full,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a > b => RangeRequest::Full,
            (Some(a), Some(_)) if a >= length => RangeRequest::Unsatisfiable,
            (Some(a), Some(b)) => RangeRequest::Partial(a..b.min(length - 1) + 1),
            _ => RangeRequest::Full,
        },
        (true, true) => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn ranges() {
        assert_eq!(parse(None, 10), Full);
        assert_eq!(parse(Some("bytes=0-3"), 10), Partial(0..4));
        assert_eq!(parse(Some("bytes=5-100"), 10), Partial(5..10));
        assert_eq!(parse(Some("bytes=5-"), 10), Partial(5..10));
        assert_eq!(parse(Some("bytes=-3"), 10), Partial(7..10));
        assert_eq!(parse(Some("bytes=-30"), 10), Partial(0..10));
        assert_eq!(parse(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse(Some("items=0-1"), 10), Full);
        assert_eq!(parse(Some("bytes=x-1"), 10), Full);
        assert_eq!(parse(Some("bytes=4-2"), 10), Full);
    }

    /// RFC 9110 14.1: the range unit is case-insensitive.
    #[test]
    fn the_unit_in_any_case() {
        assert_eq!(parse(Some("Bytes=0-3"), 10), Partial(0..4));
        assert_eq!(parse(Some("BYTES=-3"), 10), Partial(7..10));
        assert_eq!(parse(Some("bYtEs=5-"), 10), Partial(5..10));
        assert_eq!(parse(Some("bytes =0-3"), 10), Full);
        assert_eq!(parse(Some("byte=0-3"), 10), Full);
    }
}

#[cfg(test)]
mod proptests;
