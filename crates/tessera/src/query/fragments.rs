//! The default QIDO attributes of a study, series or instance, prepared as DICOM JSON members
//! (`"00100010":{...},"00100020":{...}`) by the index writer whenever a row changes, so a
//! search answers by concatenating stored text instead of formatting every value again.

use std::collections::BTreeMap;

use super::attributes::{self, Level};
use super::values::{element, RowValue};

/// The members for the defaults of `level` from the row's values (by keyword).
pub fn fragment(level: Level, values: &BTreeMap<&'static str, RowValue>) -> String {
    let mut out = String::new();
    for keyword in attributes::defaults(level) {
        let Some(attribute) = attributes::by_keyword(keyword) else {
            continue;
        };
        let value = values.get(keyword).cloned().unwrap_or(RowValue::Text(None));
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!(
            "\"{:04X}{:04X}\":{}",
            attribute.tag.group(),
            attribute.tag.element(),
            element(attribute.vr, &value, keyword)
        ));
    }
    out
}
