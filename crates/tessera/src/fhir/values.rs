//! Reading attribute values out of the stored DICOM JSON (PS3.18 F.2) of an instance.

use serde_json::{Map, Value};

/// One instance's DICOM JSON object.
pub type DicomJson = Map<String, Value>;

/// Parse a stored metadata string; anything but an object gives an empty data set.
pub fn parse(metadata: &str) -> DicomJson {
    match serde_json::from_str(metadata) {
        Ok(Value::Object(map)) => map,
        _ => DicomJson::new(),
    }
}

fn first(data: &DicomJson, tag: &str) -> Option<Value> {
    data.get(tag)?.get("Value")?.as_array()?.first().cloned()
}

/// The first value of a text attribute, trimmed; `None` when absent or empty.
pub fn text(data: &DicomJson, tag: &str) -> Option<String> {
    let text = match first(data, tag)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let text = text.trim().trim_end_matches('\0').trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The first value of an IS/US/SL attribute as an integer.
pub fn integer(data: &DicomJson, tag: &str) -> Option<i64> {
    match first(data, tag)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The first value of a PN attribute: its (Alphabetic, Ideographic, Phonetic) groups.
pub fn person_name(data: &DicomJson, tag: &str) -> Option<[Option<String>; 3]> {
    let Value::Object(pn) = first(data, tag)? else {
        return None;
    };
    let group = |name: &str| {
        pn.get(name)
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let groups = [group("Alphabetic"), group("Ideographic"), group("Phonetic")];
    groups.iter().any(Option::is_some).then_some(groups)
}

/// The first item of a sequence attribute.
pub fn first_item(data: &DicomJson, tag: &str) -> Option<DicomJson> {
    match first(data, tag)? {
        Value::Object(item) => Some(item),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_numbers_names_and_items() {
        let data = parse(
            r#"{"00080050":{"vr":"SH","Value":[" A1 "]},"00200011":{"vr":"IS","Value":[3]},
                "00100010":{"vr":"PN","Value":[{"Alphabetic":"Doe^John","Ideographic":""}]},
                "00080051":{"vr":"SQ","Value":[{"00400031":{"vr":"UT","Value":["X"]}}]},
                "00081030":{"vr":"LO"}}"#,
        );
        assert_eq!(text(&data, "00080050").as_deref(), Some("A1"));
        assert_eq!(integer(&data, "00200011"), Some(3));
        assert_eq!(text(&data, "00081030"), None);
        let name = person_name(&data, "00100010").unwrap();
        assert_eq!(name[0].as_deref(), Some("Doe^John"));
        assert_eq!(name[1], None);
        let item = first_item(&data, "00080051").unwrap();
        assert_eq!(text(&item, "00400031").as_deref(), Some("X"));
    }
}
