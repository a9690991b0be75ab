//! Reading back the DICOM JSON written at ingest. serde_json refuses, by default, anything
//! nested more than 128 levels, and every sequence level of DICOM JSON takes three (the
//! element, its `Value` array, the item): an instance nested 42 sequences deep, well within
//! the nesting allowed at ingest, was stored with metadata that could not be read again
//! (its XML metadata answered 500, its extra query attributes failed the STOW). The limit is
//! lifted here for documents no deeper than the deepest nesting ingest can allow; deeper
//! ones are refused before serde_json descends into them.

use serde::de::Error as _;
use serde::Deserialize;
use serde_json::Value;

use crate::limits::ParseLimits;

/// The deepest JSON nesting of the metadata of an instance nested as deep as any setting
/// allows: three levels per sequence, and a few for the data set and an element's value.
pub const MAX_STORED_NESTING: usize = 3 * ParseLimits::MAX_SEQUENCE_DEPTH + 8;

/// Parse stored DICOM JSON (an instance's metadata, or a list of them), as deep as ingest
/// may have written it.
pub fn read_stored(text: &str) -> Result<Value, serde_json::Error> {
    let depth = nesting(text);
    if depth > MAX_STORED_NESTING {
        return Err(serde_json::Error::custom(format!(
            "JSON nested {depth} levels deep; at most {MAX_STORED_NESTING} are read"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let value = Value::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// The deepest nesting of objects and arrays in `text`, brackets inside strings excepted.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata of `levels` nested sequences, as ingest writes it.
    fn nested(levels: usize) -> String {
        let mut inner = r#"{"00080100":{"vr":"SH","Value":["[{\"x"]}}"#.to_string();
        for _ in 0..levels {
            inner = format!(r#"{{"0040A730":{{"vr":"SQ","Value":[{inner}]}}}}"#);
        }
        inner
    }

    #[test]
    fn metadata_as_deep_as_ingest_allows_is_read() {
        let text = nested(ParseLimits::MAX_SEQUENCE_DEPTH);
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "serde_json's own limit"
        );
        let value = read_stored(&text).unwrap();
        assert!(value.get("0040A730").is_some());
    }

    #[test]
    fn deeper_documents_and_broken_ones_are_errors() {
        assert!(read_stored(&"[".repeat(MAX_STORED_NESTING + 1)).is_err());
        assert!(read_stored(&"[".repeat(100_000)).is_err());
        assert!(read_stored(r#"{"a":1} x"#).is_err());
        assert_eq!(nesting(r#"{"[[[": ["\"{"]}"#), 2);
    }
}
