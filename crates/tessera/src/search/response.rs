//! QIDO-RS results as DICOM JSON (PS3.18 F.2): the default attributes of the level (and of
//! the levels above when the path does not fix them), what `includefield` and universal
//! matching ask for, and RetrieveURL. Text is UTF-8, so SpecificCharacterSet is ISO_IR 192.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{json, Value};

use std::collections::HashSet;

use crate::index::SearchRow;
use crate::query::attributes::{self, Attribute, Level};
use crate::query::values::{element, RowValue};
use crate::query::SearchQuery;

/// Shaped results (a DICOM JSON array as text) and whether the server's limit cut them.
pub struct SearchResults {
    pub json: String,
    pub count: usize,
    /// More results exist beyond a limit the client did not choose (Warning 299 is due).
    pub cut_by_server: bool,
}

fn tag_hex(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
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

fn member(body: &mut String, first: &mut bool, key: &str, value: &str) {
    if !*first {
        body.push(',');
    }
    *first = false;
    body.push('"');
    body.push_str(key);
    body.push_str("\":");
    body.push_str(value);
}

/// Build the DICOM JSON of every row (at most `query.limit`): the stored default members,
/// then UIDs the defaults leave out, extra columns, metadata attributes and RetrieveURL
/// (under `root`, the DICOMweb root of the partition searched, e.g. `https://h/dicom-web`).
pub fn shape(query: &SearchQuery, mut rows: Vec<SearchRow>, root: &str) -> SearchResults {
    let cut = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    let levels = query.fragment_levels();
    let mut covered: HashSet<String> = levels
        .iter()
        .flat_map(|level| attributes::defaults(*level))
        .filter_map(|keyword| attributes::by_keyword(keyword))
        .map(|a| tag_hex(a.tag))
        .collect();
    let uids: Vec<&'static Attribute> = ["StudyInstanceUID", "SeriesInstanceUID"]
        .iter()
        .filter_map(|k| attributes::by_keyword(k))
        .filter(|a| a.level <= query.level && !covered.contains(&tag_hex(a.tag)))
        .collect();
    let extra_columns = query.extra_columns();
    for attribute in uids.iter().chain(&extra_columns) {
        covered.insert(tag_hex(attribute.tag));
    }
    let mut body = String::with_capacity(rows.len() * 1200 + 2);
    body.push('[');
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push('{');
        let mut first = true;
        for fragment in row.fragments.iter().filter(|f| !f.is_empty()) {
            if !first {
                body.push(',');
            }
            first = false;
            body.push_str(fragment);
        }
        for attribute in uids.iter().chain(&extra_columns) {
            let value = row
                .values
                .get(attribute.keyword)
                .cloned()
                .unwrap_or(RowValue::Text(None));
            let element = element(attribute.vr, &value, attribute.keyword).to_string();
            member(&mut body, &mut first, &tag_hex(attribute.tag), &element);
        }
        let mut emitted: HashSet<String> = HashSet::new();
        if let Some(metadata) = &row.metadata {
            for (key, value) in metadata_members(query, metadata) {
                if !covered.contains(&key) {
                    member(&mut body, &mut first, &key, &value.to_string());
                    emitted.insert(key);
                }
            }
        }
        for tag in &query.include {
            let key = tag_hex(*tag);
            if !covered.contains(&key) && emitted.insert(key.clone()) {
                let empty = json!({ "vr": dictionary_vr(*tag) }).to_string();
                member(&mut body, &mut first, &key, &empty);
            }
        }
        let study = text_of(row, "StudyInstanceUID");
        let url = match query.level {
            Level::Study => format!("{root}/studies/{study}"),
            Level::Series => format!(
                "{root}/studies/{study}/series/{}",
                text_of(row, "SeriesInstanceUID")
            ),
            Level::Instance => format!(
                "{root}/studies/{study}/series/{}/instances/{}",
                text_of(row, "SeriesInstanceUID"),
                text_of(row, "SOPInstanceUID")
            ),
        };
        let url = json!({ "vr": "UR", "Value": [url] }).to_string();
        member(&mut body, &mut first, "00081190", &url);
        body.push('}');
    }
    body.push(']');
    SearchResults {
        json: body,
        count: rows.len(),
        cut_by_server: cut && query.limit_is_servers,
    }
}

/// Attributes from stored metadata: everything of the level for `includefield=all`, else the
/// included tags that have no column. Bulk data is never returned.
fn metadata_members(query: &SearchQuery, metadata: &str) -> Vec<(String, Value)> {
    let Ok(Value::Object(stored)) = tessera_dicom::json::read_stored(metadata) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in stored {
        if value.get("BulkDataURI").is_some() || key == "00080005" {
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
        if wanted {
            out.push((key, value));
        }
    }
    out
}
