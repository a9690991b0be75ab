//! Instance metadata as DICOM JSON (PS3.18 F.2), computed once at ingest.
//!
//! Binary values larger than [`INLINE_BINARY_LIMIT`] bytes and the pixel data become
//! BulkDataURIs. They are stored *relative* to the instance (`bulkdata/7FE00010`,
//! nested: `bulkdata/00540016/0/00181072`) so the stored JSON does not depend on the
//! server's address; WADO-RS makes them absolute when serving.

use serde_json::{json, Map, Value};

use crate::parsed::{raw_value, ParsedFile};

mod stored;
pub use stored::{read_stored, MAX_STORED_NESTING};

/// Binary values up to this many bytes stay inline (InlineBinary).
pub const INLINE_BINARY_LIMIT: usize = 1024;

/// Text VRs whose values depend on Specific Character Set.
const CHARSET_VRS: [&str; 7] = ["LO", "LT", "PN", "SH", "ST", "UC", "UT"];
/// Text VRs that hold a single value in which `\` is an ordinary character.
const SINGLE_VALUED_VRS: [&str; 3] = ["LT", "ST", "UT"];

/// Build the DICOM JSON of one parsed file.
pub fn instance_metadata(file: &ParsedFile<'_>) -> Result<Value, serde_json::Error> {
    let data_set: &dicom_object::InMemDicomObject = &file.object;
    let mut value = dicom_json::to_value(data_set)?;
    if let Value::Object(map) = &mut value {
        replace_bulk_data(map, "bulkdata");
        if file.needs_text_fixup() {
            redecode_text(map, file);
        }
        if let Some(vr) = &file.pixel_data_vr {
            map.insert(
                "7FE00010".into(),
                json!({ "vr": vr, "BulkDataURI": "bulkdata/7FE00010" }),
            );
        }
    }
    Ok(value)
}

fn replace_bulk_data(map: &mut Map<String, Value>, prefix: &str) {
    for (tag, element) in map.iter_mut() {
        let Value::Object(element) = element else {
            continue;
        };
        let path = format!("{prefix}/{tag}");
        let too_big = element
            .get("InlineBinary")
            .and_then(Value::as_str)
            .is_some_and(|b64| b64.len() / 4 * 3 > INLINE_BINARY_LIMIT);
        if too_big {
            element.remove("InlineBinary");
            element.insert("BulkDataURI".into(), Value::String(path));
            continue;
        }
        if element.get("vr").and_then(Value::as_str) == Some("SQ") {
            if let Some(Value::Array(items)) = element.get_mut("Value") {
                for (index, item) in items.iter_mut().enumerate() {
                    if let Value::Object(item) = item {
                        replace_bulk_data(item, &format!("{path}/{index}"));
                    }
                }
            }
        }
    }
}

/// Replace top-level text values with our own decoding of the raw bytes (ISO 2022 aware).
fn redecode_text(map: &mut Map<String, Value>, file: &ParsedFile<'_>) {
    for (tag_hex, element) in map.iter_mut() {
        let Value::Object(element) = element else {
            continue;
        };
        let Some(vr) = element.get("vr").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        if !CHARSET_VRS.contains(&vr.as_str()) {
            continue;
        }
        let Some(tag) = parse_tag(tag_hex) else {
            continue;
        };
        let Some(raw) = raw_value(&file.layout, file.bytes, tag) else {
            continue;
        };
        let vr_bytes = [vr.as_bytes()[0], vr.as_bytes()[1]];
        let decoded = file.charsets.decode(raw, vr_bytes);
        let values: Vec<&str> = if SINGLE_VALUED_VRS.contains(&vr.as_str()) {
            vec![decoded.as_str()]
        } else {
            decoded.split('\\').collect()
        };
        let json_values: Vec<Value> = values
            .into_iter()
            .map(|v| {
                if vr == "PN" {
                    person_name(v)
                } else {
                    Value::String(v.trim_end_matches([' ', '\0']).to_string())
                }
            })
            .collect();
        if json_values.iter().all(|v| v.is_null()) {
            element.remove("Value");
        } else {
            element.insert("Value".into(), Value::Array(json_values));
        }
    }
}

/// A PN value as the JSON model's object of component groups (PS3.18 F.2.2).
pub fn person_name(value: &str) -> Value {
    let mut groups = Map::new();
    for (name, group) in ["Alphabetic", "Ideographic", "Phonetic"]
        .iter()
        .zip(value.split('='))
    {
        let group = group.trim_end_matches([' ', '\0']);
        // A group of only delimiters ("^^^^") is an empty name.
        if !group.trim_matches('^').is_empty() {
            groups.insert((*name).to_string(), Value::String(group.to_string()));
        }
    }
    if groups.is_empty() {
        Value::Null
    } else {
        Value::Object(groups)
    }
}

fn parse_tag(hex: &str) -> Option<dicom_core::Tag> {
    let number = u32::from_str_radix(hex, 16).ok()?;
    Some(dicom_core::Tag(
        (number >> 16) as u16,
        (number & 0xFFFF) as u16,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_names_split_into_groups() {
        assert_eq!(
            person_name("Yamada^Tarou=山田^太郎=やまだ^たろう"),
            json!({"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"})
        );
        assert_eq!(person_name("Doe^John"), json!({"Alphabetic": "Doe^John"}));
        assert_eq!(person_name(""), Value::Null);
        assert_eq!(person_name("^^^^"), Value::Null);
        assert_eq!(person_name("^John"), json!({"Alphabetic": "^John"}));
    }

    #[test]
    fn large_binary_becomes_bulk_data_uri() {
        let big = "A".repeat(4 * 400);
        let mut map = json!({
            "00091010": {"vr": "OB", "InlineBinary": big},
            "00091011": {"vr": "OB", "InlineBinary": "AAAA"},
            "00540016": {"vr": "SQ", "Value": [{"00181072": {"vr": "OB", "InlineBinary": big}}]}
        });
        replace_bulk_data(map.as_object_mut().unwrap(), "bulkdata");
        assert_eq!(map["00091010"]["BulkDataURI"], "bulkdata/00091010");
        assert_eq!(map["00091011"]["InlineBinary"], "AAAA");
        assert_eq!(
            map["00540016"]["Value"][0]["00181072"]["BulkDataURI"],
            "bulkdata/00540016/0/00181072"
        );
    }
}

#[cfg(test)]
mod proptests;
