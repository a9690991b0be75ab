//! Hostile input for the DICOM JSON writer (issue 17): metadata of mutated and generated
//! files, person names and bulk data replacement on arbitrary JSON never panic.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{instance_metadata, person_name, replace_bulk_data, INLINE_BINARY_LIMIT};
use crate::extract::parse;
use crate::layout::hostile::{self, bounded};

/// The DICOM JSON of any file that parses is a JSON object that serialises.
fn metadata_of(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(parsed) = bounded("parse", || parse(bytes))? else {
        return Ok(());
    };
    let json = bounded("DICOM JSON", || instance_metadata(&parsed))?;
    if let Ok(json) = json {
        prop_assert!(json.is_object());
        prop_assert!(serde_json::to_string(&json).is_ok());
    }
    Ok(())
}

/// Any JSON value, a few levels deep, biased towards the shapes of DICOM JSON.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
        (0usize..2000).prop_map(|n| Value::String("A".repeat(n))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("vr".to_string()),
            Just("Value".to_string()),
            Just("InlineBinary".to_string()),
            Just("SQ".to_string()),
            "[0-9A-F]{8}",
            ".{0,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// No InlineBinary longer than the limit is left where the replacement looks.
fn no_large_inline(map: &Map<String, Value>) -> bool {
    map.values().all(|element| {
        let Value::Object(element) = element else {
            return true;
        };
        let small = element
            .get("InlineBinary")
            .and_then(Value::as_str)
            .is_none_or(|b64| b64.len() / 4 * 3 <= INLINE_BINARY_LIMIT);
        let items_ok = match (
            element.get("vr").and_then(Value::as_str),
            element.get("Value"),
        ) {
            (Some("SQ"), Some(Value::Array(items))) => items.iter().all(|item| match item {
                Value::Object(item) => no_large_inline(item),
                _ => true,
            }),
            _ => true,
        };
        small && items_ok
    })
}

proptest! {
    #![proptest_config(hostile::config(256))]

    #[test]
    fn metadata_of_mutated_files(( _name, bytes) in hostile::mutated_seed()) {
        metadata_of(&bytes)?;
    }

    #[test]
    fn metadata_of_generated_data_sets(bytes in hostile::element_soup()) {
        metadata_of(&bytes)?;
    }

    #[test]
    fn person_names_never_panic(value in ".{0,40}") {
        let json = person_name(&value);
        prop_assert!(json.is_null() || json.is_object());
    }

    /// A name without `=` is all alphabetic group, padding trimmed.
    #[test]
    fn alphabetic_names_round_trip(name in "[A-Za-z][A-Za-z ^]{0,20}[A-Za-z]") {
        prop_assert_eq!(
            person_name(&name),
            serde_json::json!({ "Alphabetic": name })
        );
    }

    #[test]
    fn bulk_data_replacement_on_any_json(mut value in json_value()) {
        if let Value::Object(map) = &mut value {
            replace_bulk_data(map, "bulkdata");
            prop_assert!(no_large_inline(map));
        }
    }
}
