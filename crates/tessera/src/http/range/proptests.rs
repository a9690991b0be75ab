//! Property tests of the Range header parser (issue 17): any header and any length give an
//! answer, never a panic; a partial answer always lies inside the value; generated valid
//! ranges come back as the bytes they name.

use proptest::prelude::*;

use super::*;

use crate::proptest_config::config;

/// Lengths around the edges: empty, small, huge.
fn length() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..100, any::<u64>(), Just(u64::MAX)]
}

/// Header text that looks like a Range header more often than not.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ]{0,2}(bytes|Bytes|items)?=?[ 0-9,-]{0,12}",
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("bytes={a}-{b}")),
        any::<u64>().prop_map(|n| format!("bytes=-{n}")),
        any::<u64>().prop_map(|a| format!("bytes={a}-")),
        "bytes=[0-9]{15,30}-[0-9]{15,30}",
    ]
}

/// Optional spaces around the parts of a range, which the parser tolerates.
fn pad() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" ")]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_header_gives_an_answer_inside_the_value(header in header(), length in length()) {
        match parse(Some(&header), length) {
            RangeRequest::Partial(range) => {
                prop_assert!(range.start < range.end, "{header:?}: {range:?}");
                prop_assert!(range.end <= length, "{header:?}: {range:?} past {length}");
            }
            RangeRequest::Full | RangeRequest::Unsatisfiable => {}
        }
    }

    /// `bytes=a-b` is bytes a to b (at most to the end), or 416 when a is past the end.
    #[test]
    fn first_last_ranges(
        unit in "[bB][yY][tT][eE][sS]",
        a in 0u64..1000,
        extra in 0u64..1000,
        length in 0u64..1000,
        p in pad(),
        q in pad(),
    ) {
        let b = a + extra;
        let answer = parse(Some(&format!("{p}{unit}={a}{q}-{q}{b}{p}")), length);
        if a >= length {
            prop_assert_eq!(answer, RangeRequest::Unsatisfiable);
        } else {
            prop_assert_eq!(answer, RangeRequest::Partial(a..(b + 1).min(length)));
        }
    }

    /// `bytes=-n` is the last n bytes.
    #[test]
    fn suffix_ranges(n in 0u64..2000, length in 0u64..1000) {
        let answer = parse(Some(&format!("bytes=-{n}")), length);
        if n == 0 || length == 0 {
            prop_assert_eq!(answer, RangeRequest::Unsatisfiable);
        } else {
            prop_assert_eq!(answer, RangeRequest::Partial(length.saturating_sub(n)..length));
        }
    }

    /// `bytes=a-` is from a to the end.
    #[test]
    fn open_ranges(a in 0u64..2000, length in 0u64..1000) {
        let answer = parse(Some(&format!("bytes={a}-")), length);
        if a >= length {
            prop_assert_eq!(answer, RangeRequest::Unsatisfiable);
        } else {
            prop_assert_eq!(answer, RangeRequest::Partial(a..length));
        }
    }

    /// Several ranges, a last before a first, numbers that do not fit: the whole value.
    #[test]
    fn what_is_not_one_usable_range_is_ignored(
        a in 0u64..1000,
        b in 0u64..1000,
        length in 1u64..1000,
    ) {
        prop_assert_eq!(parse(Some(&format!("bytes={a}-{b},{b}-")), length), RangeRequest::Full);
        if a > b {
            prop_assert_eq!(parse(Some(&format!("bytes={a}-{b}")), length), RangeRequest::Full);
        }
        prop_assert_eq!(
            parse(Some(&format!("bytes={a}-1{}", "0".repeat(20))), length),
            RangeRequest::Full
        );
    }
}
