//! QIDO-RS results as DICOM JSON (PS3.18 F.2): the default attributes of the level (and of
//! the levels above when the path does not fix them), what `includefield` and universal
//! matching ask for, and RetrieveURL. Text is UTF-8, so SpecificCharacterSet is ISO_IR 192.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{json, Map, Value};

use super::attributes::{self, Level};
use super::query::SearchQuery;
use crate::dicom::json::person_name;
use crate::index::{RowValue, SearchRow};

/// Shaped results and whether the server's limit cut them.
pub struct SearchResults {
    pub items: Vec<Value>,
    /// More results exist beyond a limit the client did not choose (Warning 299 is due).
    pub cut_by_server: bool,
}

fn tag_hex(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
}

/// Keywords returned by default for this query.
fn default_keywords(query: &SearchQuery) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = attributes::defaults(query.level).to_vec();
    if query.level >= Level::Series {
        out.push("StudyInstanceUID");
        if query.study.is_none() {
            out.extend_from_slice(attributes::defaults(Level::Study));
        }
    }
    if query.level == Level::Instance {
        out.push("SeriesInstanceUID");
        if query.series.is_none() {
            out.extend_from_slice(attributes::defaults(Level::Series));
        }
    }
    out
}

fn element(vr: &str, value: &RowValue, keyword: &str) -> Value {
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

fn dictionary_vr(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr.to_string().to_string(),
        _ => "UN".to_string(),
    }
}

fn text_of(row: &SearchRow, keyword: &str) -> String {
    match row.values.get(keyword) {
        Some(RowValue::Text(Some(t))) => t.clone(),
        _ => String::new(),
    }
}

/// Build the DICOM JSON of every row (at most `query.limit`).
pub fn shape(query: &SearchQuery, mut rows: Vec<SearchRow>, base: &str) -> SearchResults {
    let cut = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    let mut keywords = default_keywords(query);
    for tag in &query.include {
        if let Some(attribute) = attributes::by_tag(*tag) {
            if attribute.level <= query.level && !keywords.contains(&attribute.keyword) {
                keywords.push(attribute.keyword);
            }
        }
    }
    let items = rows
        .iter()
        .map(|row| {
            let mut map = Map::new();
            if let Some(metadata) = &row.metadata {
                merge_metadata(&mut map, query, metadata);
            }
            for keyword in &keywords {
                let Some(attribute) = attributes::by_keyword(keyword) else {
                    continue;
                };
                if let Some(value) = row.values.get(keyword) {
                    map.insert(
                        tag_hex(attribute.tag),
                        element(attribute.vr, value, keyword),
                    );
                }
            }
            for tag in &query.include {
                map.entry(tag_hex(*tag))
                    .or_insert_with(|| json!({ "vr": dictionary_vr(*tag) }));
            }
            let study = text_of(row, "StudyInstanceUID");
            let url = match query.level {
                Level::Study => format!("{base}/dicom-web/studies/{study}"),
                Level::Series => format!(
                    "{base}/dicom-web/studies/{study}/series/{}",
                    text_of(row, "SeriesInstanceUID")
                ),
                Level::Instance => format!(
                    "{base}/dicom-web/studies/{study}/series/{}/instances/{}",
                    text_of(row, "SeriesInstanceUID"),
                    text_of(row, "SOPInstanceUID")
                ),
            };
            map.insert("00081190".into(), json!({ "vr": "UR", "Value": [url] }));
            Value::Object(map)
        })
        .collect();
    SearchResults {
        items,
        cut_by_server: cut && query.limit_is_servers,
    }
}

/// Attributes from stored metadata: everything of the level for `includefield=all`, else the
/// included tags that have no column. Bulk data is never returned.
fn merge_metadata(map: &mut Map<String, Value>, query: &SearchQuery, metadata: &str) {
    let Ok(Value::Object(stored)) = serde_json::from_str::<Value>(metadata) else {
        return;
    };
    for (key, value) in stored {
        if value.get("BulkDataURI").is_some() {
            continue;
        }
        let Ok(number) = u32::from_str_radix(&key, 16) else {
            continue;
        };
        let tag = Tag((number >> 16) as u16, (number & 0xFFFF) as u16);
        let wanted = if query.include_all {
            match query.level {
                Level::Instance => true,
                level => {
                    attributes::belongs_to(tag, level)
                        || (level == Level::Series
                            && query.study.is_none()
                            && attributes::belongs_to(tag, Level::Study))
                }
            }
        } else {
            query.include.contains(&tag)
        };
        if wanted && key != "00080005" {
            map.insert(key, value);
        }
    }
}
