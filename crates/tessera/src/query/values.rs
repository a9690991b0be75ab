//! Values as the index keeps them for QIDO, and as DICOM JSON elements (PS3.18 F.2).

use serde_json::{json, Value};

use tessera_dicom::json::person_name;

/// A value read for a QIDO result.
#[derive(Debug, Clone, PartialEq)]
pub enum RowValue {
    Text(Option<String>),
    Int(Option<i64>),
}

/// One attribute as a DICOM JSON element.
pub fn element(vr: &str, value: &RowValue, keyword: &str) -> Value {
    let values: Vec<Value> = match value {
        RowValue::Int(Some(n)) => vec![json!(n)],
        RowValue::Text(Some(text)) if keyword == "SpecificCharacterSet" => {
            let _ = text;
            vec![json!("ISO_IR 192")]
        }
        RowValue::Text(Some(text)) if vr == "PN" => match person_name(text) {
            Value::Null => vec![],
            pn => vec![pn],
        },
        RowValue::Text(Some(text))
            if keyword == "ModalitiesInStudy" || keyword == "SOPClassesInStudy" =>
        {
            text.split('\\')
                .filter(|v| !v.is_empty())
                .map(|v| json!(v))
                .collect()
        }
        RowValue::Text(Some(text)) => vec![json!(text)],
        RowValue::Text(None) | RowValue::Int(None) => vec![],
    };
    if values.is_empty() {
        json!({ "vr": vr })
    } else {
        json!({ "vr": vr, "Value": values })
    }
}
