//! Hostile input for the character set decoder (issue 17): any Specific Character Set value
//! and any bytes in any VR decode without a panic; bad UTF-8 and broken ISO 2022 escape
//! sequences become U+FFFD, never an escape character in the text.

use proptest::prelude::*;

use super::*;
use crate::layout::hostile;

/// Every Defined Term the decoder knows, and a few it does not.
const TERMS: [&str; 22] = [
    "",
    "ISO_IR 6",
    "ISO_IR 13",
    "ISO_IR 100",
    "ISO_IR 101",
    "ISO_IR 126",
    "ISO_IR 127",
    "ISO_IR 144",
    "ISO_IR 166",
    "ISO_IR 192",
    "GB18030",
    "GBK",
    "ISO 2022 IR 6",
    "ISO 2022 IR 13",
    "ISO 2022 IR 58",
    "ISO 2022 IR 87",
    "ISO 2022 IR 100",
    "ISO 2022 IR 149",
    "ISO 2022 IR 159",
    "ISO 2022 IR 203",
    "KOI8-R",
    "ISO_IR",
];

const VRS: [[u8; 2]; 12] = [
    *b"PN", *b"LO", *b"SH", *b"LT", *b"ST", *b"UT", *b"UC", *b"UR", *b"CS", *b"AE", *b"DA", *b"UI",
];

/// A Specific Character Set value of one to four terms, as stored.
fn charset_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(proptest::sample::select(TERMS.to_vec()), 1..5)
            .prop_map(|terms| terms.join("\\").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

/// Bytes rich in ISO 2022 structure: escape sequences (known, unknown, cut short),
/// intermediates and finals, GL and GR runs, delimiters.
fn iso2022_bytes() -> impl Strategy<Value = Vec<u8>> {
    let chunk = prop_oneof![
        Just(b"\x1b$B".to_vec()),
        Just(b"\x1b$(D".to_vec()),
        Just(b"\x1b$)C".to_vec()),
        Just(b"\x1b$)A".to_vec()),
        Just(b"\x1b(B".to_vec()),
        Just(b"\x1b(J".to_vec()),
        Just(b"\x1b)I".to_vec()),
        Just(b"\x1b-A".to_vec()),
        Just(b"\x1b-L".to_vec()),
        Just(b"\x1b".to_vec()),
        Just(b"\x1b$".to_vec()),
        Just(b"\x1b$(".to_vec()),
        proptest::collection::vec(0x20u8..=0x2F, 0..6).prop_map(|mut v| {
            v.insert(0, 0x1B);
            v
        }),
        proptest::collection::vec(0x21u8..=0x7E, 0..6),
        proptest::collection::vec(0x80u8..=0xFF, 0..6),
        proptest::sample::select(b"\\^=\r\n\t\x0c \0".to_vec()).prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(chunk, 0..16).prop_map(|chunks| chunks.concat())
}

fn sets() -> impl Strategy<Value = CharacterSets> {
    charset_value().prop_map(|raw| {
        CharacterSets::parse(&raw).unwrap_or_else(|_| CharacterSets::default_repertoire())
    })
}

proptest! {
    #![proptest_config(hostile::config(256))]

    #[test]
    fn any_charset_value_parses_or_is_refused(raw in charset_value()) {
        match CharacterSets::parse(&raw) {
            Ok(sets) => prop_assert!(!sets.terms.is_empty()),
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }

    #[test]
    fn any_bytes_decode(
        sets in sets(),
        raw in proptest::collection::vec(any::<u8>(), 0..256),
        vr in prop_oneof![proptest::sample::select(VRS.to_vec()), any::<[u8; 2]>()],
    ) {
        let _ = sets.decode(&raw, vr);
    }

    /// Broken and unknown escape sequences decode with U+FFFD; ESC itself never reaches the
    /// text of a code-extension character set.
    #[test]
    fn broken_escape_sequences_decode(
        first in proptest::sample::select(vec![
            "", "ISO 2022 IR 6", "ISO 2022 IR 13", "ISO 2022 IR 100", "ISO 2022 IR 149",
            "ISO 2022 IR 58",
        ]),
        raw in iso2022_bytes(),
        vr in proptest::sample::select(VRS.to_vec()),
    ) {
        let value = format!(
            "{first}\\ISO 2022 IR 87\\ISO 2022 IR 159\\ISO 2022 IR 149\\ISO 2022 IR 58\\ISO 2022 IR 13"
        );
        let sets = CharacterSets::parse(value.as_bytes()).unwrap();
        let text = sets.decode(&raw, vr);
        prop_assert!(!text.contains('\u{1b}'), "{raw:?} -> {text:?}");
    }

    /// ISO_IR 192: valid UTF-8 comes back as it was (trailing padding trimmed) ...
    #[test]
    fn utf8_round_trips(text in any::<String>()) {
        let sets = CharacterSets::parse(b"ISO_IR 192").unwrap();
        prop_assert_eq!(
            sets.decode(text.as_bytes(), *b"LT"),
            text.trim_end_matches([' ', '\0'])
        );
    }

    /// ... and bad UTF-8 becomes U+FFFD, the rest kept.
    #[test]
    fn bad_utf8_is_replaced(raw in proptest::collection::vec(any::<u8>(), 0..128)) {
        let sets = CharacterSets::parse(b"ISO_IR 192").unwrap();
        let lossy = String::from_utf8_lossy(&raw);
        prop_assert_eq!(sets.decode(&raw, *b"UT"), lossy.trim_end_matches([' ', '\0']));
    }

    /// The default repertoire reads bytes without ESC as ISO 8859-1.
    #[test]
    fn default_repertoire_is_latin1(
        raw in proptest::collection::vec(any::<u8>().prop_filter("no ESC", |b| *b != 0x1B), 0..128),
    ) {
        let latin1: String = raw.iter().map(|&b| char::from(b)).collect();
        prop_assert_eq!(
            CharacterSets::default_repertoire().decode(&raw, *b"LT"),
            latin1.trim_end_matches([' ', '\0'])
        );
    }
}
