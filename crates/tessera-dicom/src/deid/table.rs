//! PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes), embedded as the
//! TSV that `scripts/dev/gen_deid_table.py` generates from NEMA's DocBook source of PS3.15;
//! the edition is the one named in the file's first line.

use std::collections::HashMap;
use std::sync::OnceLock;

use dicom_core::Tag;

use super::action::Action;
use super::options::{OptionColumn, Options};

const TSV: &str = include_str!("table_e1_1.tsv");
const PRIVATE_ROW: &str = "(gggg,eeee) where gggg is odd";

/// A tag or a tag pattern of the table: `x` digits match any hexadecimal digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagPattern {
    pub group: u16,
    pub group_mask: u16,
    pub element: u16,
    pub element_mask: u16,
}

impl TagPattern {
    /// Parse `(gggg,eeee)` where any digit may be `x`.
    pub fn parse(text: &str) -> Option<TagPattern> {
        let inner = text.strip_prefix('(')?.strip_suffix(')')?;
        let (group, element) = inner.split_once(',')?;
        let (group, group_mask) = half(group)?;
        let (element, element_mask) = half(element)?;
        Some(TagPattern {
            group,
            group_mask,
            element,
            element_mask,
        })
    }

    pub fn matches(&self, tag: Tag) -> bool {
        tag.group() & self.group_mask == self.group
            && tag.element() & self.element_mask == self.element
    }

    /// Whether the pattern names one tag.
    pub fn is_exact(&self) -> bool {
        self.group_mask == 0xFFFF && self.element_mask == 0xFFFF
    }
}

fn half(text: &str) -> Option<(u16, u16)> {
    if text.len() != 4 {
        return None;
    }
    let mut value = 0u16;
    let mut mask = 0u16;
    for c in text.chars() {
        value <<= 4;
        mask <<= 4;
        if c == 'x' || c == 'X' {
            continue;
        }
        value |= c.to_digit(16)? as u16;
        mask |= 0xF;
    }
    Some((value, mask))
}

/// One row of Table E.1-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The tag cell as printed: `(0010,0010)`, `(50xx,xxxx)`, or the private attributes row.
    pub tag: String,
    pub name: String,
    /// Retd. (from PS3.6).
    pub retired: bool,
    /// In Std. Comp. IOD (from PS3.3).
    pub in_std_iod: bool,
    pub basic: Action,
    /// The option columns, in [`OptionColumn::ALL`] order.
    pub options: [Option<Action>; 10],
}

impl Rule {
    /// The action under the chosen options (before combinations are resolved).
    pub fn action(&self, options: &Options) -> Action {
        options.resolve(self.basic, &self.options)
    }

    /// This row's action in one option column.
    pub fn option(&self, column: OptionColumn) -> Option<Action> {
        let i = OptionColumn::ALL.iter().position(|c| *c == column)?;
        self.options[i]
    }
}

/// Table E.1-1 parsed.
#[derive(Debug)]
pub struct Table {
    edition: String,
    rules: Vec<Rule>,
    exact: HashMap<Tag, usize>,
    patterns: Vec<(TagPattern, usize)>,
    private: usize,
}

/// Why the embedded table could not be read (a generator bug; tested below).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the table's first line does not name a PS3.15 edition")]
    NoEdition,
    #[error("line {line}: {reason}")]
    BadRow { line: usize, reason: String },
    #[error("the table has no row for private attributes")]
    NoPrivateRow,
}

impl Table {
    /// The table embedded in the crate.
    pub fn embedded() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| Table::parse(TSV).expect("the embedded Table E.1-1 parses"))
    }

    /// Parse the TSV written by `scripts/dev/gen_deid_table.py`.
    pub fn parse(tsv: &str) -> Result<Table, TableError> {
        let first = tsv.lines().next().unwrap_or_default();
        let edition = first
            .strip_prefix("# DICOM PS3.15 ")
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|e| e.len() >= 4 && e[..4].bytes().all(|b| b.is_ascii_digit()))
            .ok_or(TableError::NoEdition)?
            .to_string();
        let mut rules = Vec::new();
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        let mut private = None;
        let mut header_seen = false;
        for (index, line) in tsv.lines().enumerate() {
            let line_no = index + 1;
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split('\t').collect();
            let bad = |reason: String| TableError::BadRow {
                line: line_no,
                reason,
            };
            if !header_seen {
                header_seen = true;
                let expected: Vec<&str> = ["tag", "name", "retired", "in_std_iod", "basic"]
                    .into_iter()
                    .chain(OptionColumn::ALL.iter().map(|c| c.tsv_name()))
                    .collect();
                if cells != expected {
                    return Err(bad(format!("header {cells:?} is not {expected:?}")));
                }
                continue;
            }
            if cells.len() != 15 {
                return Err(bad(format!("{} cells instead of 15", cells.len())));
            }
            let basic = Action::parse(cells[4])
                .ok_or_else(|| bad(format!("basic action {:?}", cells[4])))?;
            let mut options = [None; 10];
            for (slot, cell) in options.iter_mut().zip(&cells[5..]) {
                if !cell.is_empty() {
                    *slot = Some(Action::parse(cell).ok_or_else(|| bad(format!("{cell:?}")))?);
                }
            }
            let rule = Rule {
                tag: cells[0].to_string(),
                name: cells[1].to_string(),
                retired: cells[2] == "Y",
                in_std_iod: cells[3] == "Y",
                basic,
                options,
            };
            let at = rules.len();
            if rule.tag == PRIVATE_ROW {
                private = Some(at);
            } else {
                let pattern =
                    TagPattern::parse(&rule.tag).ok_or_else(|| bad(format!("tag {}", rule.tag)))?;
                if pattern.is_exact() {
                    exact.insert(Tag(pattern.group, pattern.element), at);
                } else {
                    patterns.push((pattern, at));
                }
            }
            rules.push(rule);
        }
        Ok(Table {
            edition,
            rules,
            exact,
            patterns,
            private: private.ok_or(TableError::NoPrivateRow)?,
        })
    }

    /// The edition of PS3.15 the table was generated from, e.g. `2026c`.
    pub fn edition(&self) -> &str {
        &self.edition
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The row for a standard (even group) tag: its own row, else a pattern row.
    pub fn lookup(&self, tag: Tag) -> Option<&Rule> {
        if let Some(at) = self.exact.get(&tag) {
            return Some(&self.rules[*at]);
        }
        self.patterns
            .iter()
            .find(|(pattern, _)| pattern.matches(tag))
            .map(|(_, at)| &self.rules[*at])
    }

    /// The row of private attributes (odd groups).
    pub fn private_rule(&self) -> &Rule {
        &self.rules[self.private]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;

    #[test]
    fn the_embedded_table_parses_with_its_edition() {
        let table = Table::embedded();
        assert_eq!(table.edition(), "2026c");
        assert!(table.rules().len() >= 650, "{}", table.rules().len());
        let name = table.lookup(tags::PATIENT_NAME).unwrap();
        assert_eq!(name.basic, Action::Z);
        let sop = table.lookup(tags::SOP_INSTANCE_UID).unwrap();
        assert_eq!(sop.basic, Action::U);
        assert_eq!(sop.option(OptionColumn::RetainUids), Some(Action::K));
        assert_eq!(table.private_rule().basic, Action::X);
        assert_eq!(
            table.private_rule().option(OptionColumn::RetainSafePrivate),
            Some(Action::C)
        );
        // Series Description is cleaned under Clean Descriptors.
        let desc = table.lookup(tags::SERIES_DESCRIPTION).unwrap();
        assert_eq!(desc.option(OptionColumn::CleanDescriptors), Some(Action::C));
        // Attributes the table does not name are not in it.
        assert!(table.lookup(tags::ROWS).is_none());
    }

    #[test]
    fn patterns_match_repeating_groups() {
        let table = Table::embedded();
        assert_eq!(
            table.lookup(Tag(0x6002, 0x3000)).unwrap().name,
            "Overlay Data"
        );
        assert_eq!(
            table.lookup(Tag(0x6000, 0x4000)).unwrap().name,
            "Overlay Comments"
        );
        assert_eq!(
            table.lookup(Tag(0x5004, 0x0010)).unwrap().name,
            "Curve Data"
        );
        assert!(table.lookup(Tag(0x6000, 0x0010)).is_none());
    }

    #[test]
    fn pattern_parsing() {
        let p = TagPattern::parse("(50xx,xxxx)").unwrap();
        assert!(p.matches(Tag(0x501E, 0x3000)) && !p.matches(Tag(0x6000, 0x3000)));
        assert!(TagPattern::parse("(0010,0010)").unwrap().is_exact());
        assert!(TagPattern::parse("0010,0010").is_none());
        assert!(TagPattern::parse("(001,0010)").is_none());
    }

    #[test]
    fn a_table_without_edition_or_with_a_bad_cell_is_refused() {
        assert_eq!(
            Table::parse("tag\tname\n").err(),
            Some(TableError::NoEdition)
        );
        let header = "# DICOM PS3.15 2026c Table E.1-1\ntag\tname\tretired\tin_std_iod\tbasic\tretain_safe_private\tretain_uids\tretain_device_identity\tretain_institution_identity\tretain_patient_characteristics\tretain_long_full_dates\tretain_long_modified_dates\tclean_descriptors\tclean_structured_content\tclean_graphics\n";
        let bad = format!("{header}(0010,0010)\tName\tN\tY\tQ\t\t\t\t\t\t\t\t\t\t\n");
        assert!(matches!(
            Table::parse(&bad),
            Err(TableError::BadRow { line: 3, .. })
        ));
        let no_private = format!("{header}(0010,0010)\tName\tN\tY\tZ\t\t\t\t\t\t\t\t\t\t\n");
        assert_eq!(
            Table::parse(&no_private).err(),
            Some(TableError::NoPrivateRow)
        );
    }
}
