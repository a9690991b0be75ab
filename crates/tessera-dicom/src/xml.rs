//! DICOM JSON (PS3.18 F.2) as the Native DICOM Model XML (PS3.19 A.1), for clients that ask
//! for `application/dicom+xml`.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{Map, Value};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn keyword(tag_hex: &str) -> Option<String> {
    let n = u32::from_str_radix(tag_hex, 16).ok()?;
    let tag = Tag((n >> 16) as u16, (n & 0xFFFF) as u16);
    StandardDataDictionary
        .by_tag(tag)
        .map(|e| e.alias().to_string())
}

fn person_name(out: &mut String, number: usize, value: &Value) {
    out.push_str(&format!("<PersonName number=\"{number}\">"));
    for group in ["Alphabetic", "Ideographic", "Phonetic"] {
        let Some(text) = value.get(group).and_then(Value::as_str) else {
            continue;
        };
        out.push_str(&format!("<{group}>"));
        let names = [
            "FamilyName",
            "GivenName",
            "MiddleName",
            "NamePrefix",
            "NameSuffix",
        ];
        for (name, part) in names.iter().zip(text.split('^')) {
            if !part.is_empty() {
                out.push_str(&format!("<{name}>{}</{name}>", escape(part)));
            }
        }
        out.push_str(&format!("</{group}>"));
    }
    out.push_str("</PersonName>");
}

fn attributes(out: &mut String, data_set: &Map<String, Value>) {
    for (tag, element) in data_set {
        let vr = element.get("vr").and_then(Value::as_str).unwrap_or("UN");
        out.push_str(&format!("<DicomAttribute tag=\"{tag}\" vr=\"{vr}\""));
        if let Some(keyword) = keyword(tag) {
            out.push_str(&format!(" keyword=\"{keyword}\""));
        }
        out.push('>');
        if let Some(values) = element.get("Value").and_then(Value::as_array) {
            for (i, value) in values.iter().enumerate() {
                let number = i + 1;
                match (vr, value) {
                    ("SQ", Value::Object(item)) => {
                        out.push_str(&format!("<Item number=\"{number}\">"));
                        attributes(out, item);
                        out.push_str("</Item>");
                    }
                    ("PN", pn) => person_name(out, number, pn),
                    (_, Value::String(s)) => {
                        out.push_str(&format!("<Value number=\"{number}\">{}</Value>", escape(s)))
                    }
                    (_, Value::Null) => out.push_str(&format!("<Value number=\"{number}\"/>")),
                    (_, other) => {
                        out.push_str(&format!("<Value number=\"{number}\">{other}</Value>"))
                    }
                }
            }
        }
        if let Some(uri) = element.get("BulkDataURI").and_then(Value::as_str) {
            out.push_str(&format!("<BulkData uri=\"{}\"/>", escape(uri)));
        }
        if let Some(data) = element.get("InlineBinary").and_then(Value::as_str) {
            out.push_str(&format!("<InlineBinary>{}</InlineBinary>", escape(data)));
        }
        out.push_str("</DicomAttribute>");
    }
}

/// One data set as a complete XML document.
pub fn native_dicom_model(data_set: &Map<String, Value>) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NativeDicomModel xmlns=\"http://dicom.nema.org/PS3.19/models/NativeDICOM\">",
    );
    attributes(&mut out, data_set);
    out.push_str("</NativeDicomModel>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_values_names_and_sequences() {
        let json = serde_json::json!({
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
            "00201208": {"vr": "IS", "Value": [3]},
            "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2"]}}]}
        });
        let xml = native_dicom_model(json.as_object().unwrap());
        assert!(xml.contains("<DicomAttribute tag=\"00100010\" vr=\"PN\" keyword=\"PatientName\"><PersonName number=\"1\"><Alphabetic><FamilyName>Doe</FamilyName><GivenName>John</GivenName></Alphabetic></PersonName>"));
        assert!(xml.contains("<Value number=\"1\">3</Value>"));
        assert!(xml.contains("<Item number=\"1\"><DicomAttribute tag=\"00081155\" vr=\"UI\" keyword=\"ReferencedSOPInstanceUID\"><Value number=\"1\">1.2</Value>"));
    }
}
