//! Extra query attributes named by the operator (`level:Keyword` or `level:GGGGEEEE`), as
//! Orthanc's ExtraMainDicomTags and Azure's extended query tags: their values are indexed at
//! ingest, and back-filled from stored metadata when one is added later.

use dicom_core::Tag;
use serde_json::Value;

use super::attributes::{self, resolve_attribute, Level};
use tessera_dicom::datetime::{self, Bound};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraAttribute {
    pub tag: Tag,
    /// `GGGGEEEE`, as in DICOM JSON and in the index.
    pub tag_hex: String,
    pub vr: String,
    pub level: Level,
}

/// A configured extra query attribute that cannot be used, and what was expected.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid extra_query_attributes {entry:?}: expected {expected}")]
pub struct ExtraAttributeError {
    pub entry: String,
    pub expected: &'static str,
}

/// Parse the configured entries.
pub fn parse_config(entries: &[String]) -> Result<Vec<ExtraAttribute>, ExtraAttributeError> {
    let invalid = |value: &str, why: &'static str| ExtraAttributeError {
        entry: value.to_string(),
        expected: why,
    };
    let mut out: Vec<ExtraAttribute> = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (level, name) = entry
            .split_once(':')
            .ok_or_else(|| invalid(entry, "level:Keyword, e.g. series:StationName"))?;
        let level = Level::parse(level)
            .ok_or_else(|| invalid(entry, "a level of study, series or instance"))?;
        let (tag, vr) = resolve_attribute(name)
            .map_err(|_| invalid(entry, "a DICOM keyword or 8-digit tag"))?;
        let vr = vr.ok_or_else(|| invalid(entry, "an attribute with one known VR"))?;
        if vr.to_string() == "SQ" || attributes::by_tag(tag).is_some() {
            return Err(invalid(
                entry,
                "an attribute that is not a sequence and not already indexed",
            ));
        }
        if out.iter().any(|e| e.tag == tag) {
            continue;
        }
        out.push(ExtraAttribute {
            tag,
            tag_hex: format!("{:04X}{:04X}", tag.group(), tag.element()),
            vr: vr.to_string().to_string(),
            level,
        });
    }
    Ok(out)
}

impl ExtraAttribute {
    /// The values of this attribute in an instance's DICOM JSON: (value, normalised form for
    /// range matching of DA/TM/DT).
    pub fn values(&self, metadata: &Value) -> Vec<(String, Option<String>)> {
        let Some(values) = metadata
            .get(&self.tag_hex)
            .and_then(|e| e.get("Value"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        values
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Object(pn) => pn
                    .get("Alphabetic")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            })
            .map(|value| {
                let norm = match self.vr.as_str() {
                    "DA" => datetime::date(&value),
                    "TM" => datetime::time(&value, Bound::Lower),
                    "DT" => datetime::date_time(&value, Bound::Lower),
                    _ => None,
                };
                (value, norm)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_names() {
        let extras =
            parse_config(&["series:StationName".into(), "instance:00080022".into()]).unwrap();
        assert_eq!(extras[0].tag_hex, "00081010");
        assert_eq!(extras[0].level, Level::Series);
        assert_eq!(extras[1].vr, "DA");
        assert!(parse_config(&["StationName".into()]).is_err());
        assert!(
            parse_config(&["series:PatientID".into()]).is_err(),
            "already indexed"
        );
        assert!(parse_config(&["series:NoSuchThing".into()]).is_err());
    }

    #[test]
    fn values_come_from_dicom_json() {
        let extra = &parse_config(&["instance:AcquisitionDate".into()]).unwrap()[0];
        let json = serde_json::json!({"00080022": {"vr": "DA", "Value": ["20200105"]}});
        assert_eq!(
            extra.values(&json),
            vec![("20200105".into(), Some("20200105".into()))]
        );
    }
}
