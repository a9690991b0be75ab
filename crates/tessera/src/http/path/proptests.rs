//! Property tests of the UIDs of request paths (issue 17): any path segment is a UID or a 400,
//! never a panic; what is accepted is digits and dots only, so no traversal (`..`, `/`,
//! `%2e%2e`, `%2f`, overlong UTF-8, look-alike dots and digits) can reach storage keys.

use proptest::prelude::*;

use super::*;

use crate::proptest_config::config;

/// Hostile pieces of a path segment, raw and percent-decoded as a server may see them.
const HOSTILE: [&str; 24] = [
    "..",
    "/",
    "\\",
    "%2e%2e",
    "%2E%2E",
    "%2f",
    "%2F",
    "%5c",
    "%252e%252e",
    "%c0%ae",
    "%c0%af",
    "%e0%80%ae",
    "\u{FFFD}\u{FFFD}",
    "\u{2024}",
    "\u{FF0E}",
    "\u{FF11}",
    "\u{0661}",
    "\0",
    "%00",
    "\n",
    "1.2;x",
    "?",
    "#",
    "~",
];

/// A UID (PS3.5 9.1): components of digits, dots between.
fn uid() -> impl Strategy<Value = String> {
    proptest::collection::vec("[1-9][0-9]{0,5}|0", 1..8).prop_map(|c| c.join("."))
}

/// A UID with a hostile piece somewhere in it.
fn hostile() -> impl Strategy<Value = String> {
    (
        uid(),
        proptest::sample::select(HOSTILE.to_vec()),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(uid, piece, at)| {
            let at = at.index(uid.len() + 1);
            format!("{}{piece}{}", &uid[..at], &uid[at..])
        })
}

/// `%XX` decoded (once), the bytes read as UTF-8 with replacement, as a lenient server would.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_uid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !value.starts_with('.')
        && !value.ends_with('.')
        && !value.contains("..")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_segment_is_a_uid_or_a_400(raw in prop_oneof![any::<String>(), hostile(), uid()]) {
        for result in [
            study_uid(&raw).map(String::from),
            series_uid(&raw).map(String::from),
            sop_uid(&raw).map(String::from),
        ] {
            match result {
                Ok(uid) => prop_assert!(is_uid(&uid), "{raw:?} accepted as {uid:?}"),
                Err(err) => {
                    prop_assert!(matches!(err, ApiError::BadRequest(_)), "{raw:?}: {err:?}");
                    prop_assert!(err.to_string().starts_with("path: "));
                }
            }
        }
    }

    /// Traversal attempts and look-alikes in a UID are refused, raw or percent-decoded.
    #[test]
    fn hostile_segments_are_refused(raw in hostile()) {
        let decoded = percent_decode(&raw);
        for segment in [raw.as_str(), decoded.as_str()] {
            // NUL is UID padding and is trimmed at the ends; in the middle it is refused.
            let trimmed = segment.trim_matches(|c| c == '\0' || c == ' ');
            if is_uid(trimmed) {
                continue;
            }
            prop_assert!(study_uid(segment).is_err(), "{segment:?} accepted");
            prop_assert!(instance_uids("1.2", segment, "1.2.3").is_err());
            prop_assert!(instance_uids(segment, "1.2", "1.2.3").is_err());
        }
    }

    #[test]
    fn valid_uids_round_trip(uid in uid()) {
        prop_assume!(uid.len() <= 64);
        let study = study_uid(&uid).unwrap();
        prop_assert_eq!(study.as_str(), uid.as_str());
        let (a, b, c) = instance_uids(&uid, &uid, &uid).unwrap();
        prop_assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            (uid.as_str(), uid.as_str(), uid.as_str())
        );
    }

    #[test]
    fn any_query_string_decodes(raw in prop_oneof![any::<String>(), "[a-z=&%0-9A-F+;]{0,40}"]) {
        let pairs = query_pairs(Some(&raw));
        let _ = accept_parameter(&pairs);
    }
}
