//! Property tests of the media type and Accept parsers (issue 17): any text parses or is
//! refused, never a panic; what parses is well formed; generated media types with quoted and
//! unquoted parameters come back as they were written.

use proptest::prelude::*;

use super::*;

use crate::proptest_config::config;

/// An RFC 9110 token.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// Text with the characters media type parsers trip on.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z/;=,\" \\\\*+.qQ0-9]{0,40}",]
}

/// A parameter value: a token, or a quoted string (RFC 9110 5.6.4), with quoted-pairs.
fn value() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        token().prop_map(|t| (t.clone(), t)),
        "[ -!#-\\[\\]-~]{0,12}".prop_map(|v| (format!("\"{v}\""), v)),
        // A quote inside, escaped.
        ("[a-z]{0,4}", "[a-z]{0,4}")
            .prop_map(|(a, b)| (format!("\"{a}\\\"{b}\""), format!("{a}\"{b}"))),
        // Any visible character or space escaped (RFC 9110 5.6.4 quoted-pair).
        ("[a-z]{0,4}", "[ -~]", "[a-z]{0,4}")
            .prop_map(|(a, c, b)| (format!("\"{a}\\{c}{b}\""), format!("{a}{c}{b}"))),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_parses_or_is_refused(raw in tricky()) {
        if let Some(media) = MediaType::parse(&raw) {
            let (kind, subtype) = media.essence.split_once('/').expect("a slash");
            prop_assert!(!kind.is_empty() && !subtype.is_empty());
            prop_assert!(!media.essence.contains(char::is_whitespace));
            prop_assert_eq!(media.essence.to_ascii_lowercase(), media.essence.clone());
            for (name, _) in &media.params {
                prop_assert_eq!(name.to_ascii_lowercase(), name.clone());
            }
        }
    }

    #[test]
    fn any_accept_header_gives_ranges_by_quality(raw in tricky()) {
        let ranges = accept_ranges(&raw);
        let q = |m: &MediaType| m.param("q").and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
        for pair in ranges.windows(2) {
            prop_assert!(q(&pair[0]) >= q(&pair[1]), "{raw:?}");
        }
        prop_assert!(ranges.iter().all(|m| q(m) > 0.0));
    }

    #[test]
    fn split_outside_quotes_keeps_every_character(raw in tricky()) {
        let parts = split_outside_quotes(&raw, ',');
        prop_assert_eq!(parts.join(","), raw);
    }

    /// `type/subtype; name=value; ...` written in any case, with quoted or plain values.
    #[test]
    fn media_types_round_trip(
        kind in token(),
        subtype in token(),
        params in proptest::collection::vec((token(), value()), 0..4),
        space in prop_oneof![Just(""), Just(" ")],
    ) {
        let mut raw = format!("{kind}/{subtype}");
        for (name, (written, _)) in &params {
            raw.push_str(&format!(";{space}{name}={written}"));
        }
        let media = MediaType::parse(&raw).expect("valid media type");
        prop_assert_eq!(media.essence, format!("{kind}/{subtype}").to_ascii_lowercase());
        let expected: Vec<(String, String)> = params
            .iter()
            .map(|(name, (_, value))| (name.to_ascii_lowercase(), value.clone()))
            .collect();
        prop_assert_eq!(media.params, expected);
    }
}
