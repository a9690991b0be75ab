//! Property tests of the QIDO-RS query parser (issue 17): any query string pairs at any level
//! give a query or an error naming a parameter, never a panic; valid matching keys come back
//! as the matchers they ask for.

use proptest::prelude::*;

use super::*;
use crate::query::extra::parse_config;

use crate::proptest_config::config;

const LIMITS: Limits = Limits {
    default_limit: 100,
    max_limit: 1000,
};

/// Parameter names: every attribute with a column (by keyword and by tag), extras, control
/// parameters in any case, sequences, unknown keywords and tags, noise.
fn name() -> impl Strategy<Value = String> {
    let keyword = proptest::sample::select(
        attributes::ATTRIBUTES
            .iter()
            .map(|a| a.keyword.to_string())
            .collect::<Vec<_>>(),
    );
    let tag = proptest::sample::select(
        attributes::ATTRIBUTES
            .iter()
            .map(|a| format!("{:04X}{:04X}", a.tag.group(), a.tag.element()))
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        6 => keyword,
        2 => tag,
        2 => proptest::sample::select(vec![
            "includefield", "IncludeField", "limit", "LIMIT", "offset", "fuzzymatching",
            "FuzzyMatching", "StationName", "00081010", "OtherPatientIDsSequence",
            "ReferencedStudySequence", "00081110", "PatientNam", "ffffffff", "0010001",
        ]).prop_map(str::to_string),
        1 => "[0-9A-Fa-f]{8}",
        1 => any::<String>(),
    ]
}

/// Values: the shapes of dates, times, ranges, lists, wild cards, names, numbers, and noise.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        2 => "[0-9*?\\\\,. ^=-]{0,24}",
        2 => "[0-9]{0,8}-?[0-9]{0,8}",
        1 => "[0-9:]{0,8}(\\.[0-9]{0,8})?-?[0-9:.]{0,15}",
        1 => "[0-9]{4,14}(\\.[0-9]{1,8})?([+&-][0-9]{4})?",
        1 => "[A-Za-z]{0,8}[*?]?\\^?[A-Za-z ]{0,8}=?[^\\\\]{0,6}",
        1 => "-?[0-9]{1,25}",
        1 => Just(String::new()),
        1 => "(all|ALL|PatientName|00100010|StudyDate|nope|,){0,4}",
        1 => "(true|false|TRUE|yes|)",
    ]
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Study),
        Just(Level::Series),
        Just(Level::Instance)
    ]
}

fn extras() -> Vec<ExtraAttribute> {
    parse_config(&[
        "series:StationName".to_string(),
        "study:OtherPatientIDs".to_string(),
        "instance:AcquisitionDateTime".to_string(),
        "instance:ContentDate".to_string(),
        "series:FrameOfReferenceUID".to_string(),
    ])
    .expect("valid extra attributes")
}

const CONTROL_NAMES: [&str; 4] = ["includefield", "limit", "offset", "fuzzymatching"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_pairs_give_a_query_or_an_error_naming_a_parameter(
        level in level(),
        study in proptest::option::of("1\\.2\\.[0-9]{1,6}"),
        series in proptest::option::of("1\\.3\\.[0-9]{1,6}"),
        pairs in proptest::collection::vec((name(), value()), 0..6),
        with_extras in any::<bool>(),
    ) {
        let study = study.map(|s| StudyUid::parse(&s).unwrap());
        let series = series.map(|s| SeriesUid::parse(&s).unwrap());
        let extras = if with_extras { extras() } else { Vec::new() };
        match parse(level, study.clone(), series.clone(), &pairs, &extras, LIMITS) {
            Ok(query) => {
                let most = LIMITS.max_limit.max(LIMITS.default_limit);
                prop_assert!(query.limit >= 1 && query.limit <= most);
                prop_assert!(query.filters.len() <= pairs.len() + 2);
                let scoped = |keyword: &str, uid: &str| query.filters.iter().any(|f| {
                    matches!(f.target, Target::Column(a) if a.keyword == keyword)
                        && f.matcher == Matcher::Exact(uid.to_string())
                });
                if let Some(study) = &study {
                    prop_assert!(scoped("StudyInstanceUID", study.as_str()));
                }
                if let Some(series) = &series {
                    prop_assert!(scoped("SeriesInstanceUID", series.as_str()));
                }
                let _ = query.fragment_levels();
                let _ = query.extra_columns();
                let _ = query.needs_metadata();
            }
            Err(err) => {
                prop_assert!(!err.reason.is_empty(), "{err:?}");
                prop_assert!(
                    pairs.iter().any(|(name, _)| *name == err.parameter)
                        || CONTROL_NAMES.contains(&err.parameter.as_str()),
                    "{err:?} names no parameter of {pairs:?}"
                );
            }
        }
    }

    /// A date range `from-to` of valid dates, in order, is that range.
    #[test]
    fn date_ranges_round_trip(a in 19000101u32..21001231, b in 19000101u32..21001231) {
        let date = |n: u32| datetime::date(&n.to_string());
        let (Some(from), Some(to)) = (date(a.min(b)), date(a.max(b))) else {
            return Ok(()); // not a calendar-looking date (month 13, day 32, ...)
        };
        let pairs = vec![("StudyDate".to_string(), format!("{from}-{to}"))];
        let query = parse(Level::Study, None, None, &pairs, &[], LIMITS).unwrap();
        prop_assert_eq!(
            &query.filters[0].matcher,
            &Matcher::Range { from: Some(from), to: Some(to) }
        );
    }

    /// Text without wild cards is an exact match; with them, a wild card match.
    #[test]
    fn text_values_round_trip(
        text in "[A-Za-z0-9 ^._-]{1,16}",
        wild in proptest::option::of("[*?]"),
    ) {
        let value = format!("{text}{}", wild.clone().unwrap_or_default());
        let pairs = vec![("PatientID".to_string(), value.clone())];
        let query = parse(Level::Study, None, None, &pairs, &[], LIMITS).unwrap();
        let expected = if wild.is_some() {
            Matcher::Wildcard(value)
        } else {
            Matcher::Exact(value)
        };
        prop_assert_eq!(&query.filters[0].matcher, &expected);
    }

    /// A list of UIDs is a list match; one UID an exact match.
    #[test]
    fn uid_lists_round_trip(
        uids in proptest::collection::vec("[1-9][0-9]{0,4}(\\.[0-9]{1,4}){1,4}", 1..5),
        comma in any::<bool>(),
    ) {
        let value = uids.join(if comma { "," } else { "\\" });
        let pairs = vec![("StudyInstanceUID".to_string(), value)];
        let query = parse(Level::Study, None, None, &pairs, &[], LIMITS).unwrap();
        let expected = match uids.as_slice() {
            [one] => Matcher::Exact(one.clone()),
            _ => Matcher::List(uids.clone()),
        };
        prop_assert_eq!(&query.filters[0].matcher, &expected);
    }

    /// `limit` is honoured up to the server's maximum; 0 means the default.
    #[test]
    fn limits_round_trip(n in any::<u32>(), offset in any::<u64>()) {
        let pairs = vec![
            ("limit".to_string(), n.to_string()),
            ("offset".to_string(), offset.to_string()),
        ];
        let query = parse(Level::Series, None, None, &pairs, &[], LIMITS).unwrap();
        let expected = if n == 0 { LIMITS.default_limit } else { n.min(LIMITS.max_limit) };
        prop_assert_eq!(query.limit, expected);
        prop_assert_eq!(query.offset, offset);
        prop_assert_eq!(query.limit_is_servers, n > LIMITS.max_limit);
    }
}
