//! Private attributes (odd groups). The basic profile removes them all; the Retain Safe
//! Private Option (PS3.15 E.3.10) keeps those known to be safe, with the Private Creator
//! elements that define them. "Known to be safe" here means listed in the standard's own
//! sample list, Table E.3.10-1 (Safe Private Attributes), embedded as the TSV that
//! `scripts/dev/gen_deid_table.py` generates from PS3.15; the standard warns that vendors do
//! not guarantee them. Private sequences not on the list are walked, their contents each
//! handled on its own merits, as E.3.10 asks, rather than dropped whole.

use std::collections::HashSet;
use std::sync::OnceLock;

use dicom_core::Tag;

use super::table::TagPattern;

const TSV: &str = include_str!("safe_private_e3_10_1.tsv");

/// Table E.3.10-1: (group, element within the block, Private Creator).
#[derive(Debug)]
pub struct SafePrivate {
    entries: HashSet<(u16, u8, String)>,
}

impl SafePrivate {
    pub fn embedded() -> &'static SafePrivate {
        static LIST: OnceLock<SafePrivate> = OnceLock::new();
        LIST.get_or_init(|| SafePrivate::parse(TSV))
    }

    /// Rows whose tag is not `(gggg,xxee)` are skipped (the generator refuses such rows).
    fn parse(tsv: &str) -> SafePrivate {
        let entries = tsv
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .filter_map(|line| {
                let mut cells = line.split('\t');
                let pattern = TagPattern::parse(cells.next()?)?;
                let creator = cells.next()?.trim().to_string();
                (pattern.group_mask == 0xFFFF && pattern.element_mask == 0x00FF).then_some((
                    pattern.group,
                    pattern.element as u8,
                    creator,
                ))
            })
            .collect();
        SafePrivate { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the private data element `tag`, in the block reserved by `creator`, is listed.
    pub fn is_safe(&self, tag: Tag, creator: &str) -> bool {
        self.entries.contains(&(
            tag.group(),
            (tag.element() & 0xFF) as u8,
            creator
                .trim_matches(|c: char| c == ' ' || c == '\0')
                .to_string(),
        ))
    }
}

/// Whether `tag` is in a private (odd) group.
pub fn is_private(tag: Tag) -> bool {
    tag.group() % 2 == 1
}

/// Whether `tag` is a Private Creator element, (gggg,0010) to (gggg,00FF).
pub fn is_creator(tag: Tag) -> bool {
    is_private(tag) && (0x0010..=0x00FF).contains(&tag.element())
}

/// The Private Creator element that reserves the block of a private data element, if the
/// element is in a block at all ((gggg,1000) to (gggg,FFFF)).
pub fn creator_of(tag: Tag) -> Option<Tag> {
    let block = tag.element() >> 8;
    (is_private(tag) && block >= 0x10).then(|| Tag(tag.group(), block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_list_is_embedded() {
        let list = SafePrivate::embedded();
        assert!(list.len() > 400, "{}", list.len());
        // (7053,xx00) Philips PET Private Group: SUV Factor.
        assert!(list.is_safe(Tag(0x7053, 0x1000), "Philips PET Private Group"));
        assert!(list.is_safe(Tag(0x7053, 0x1100), "Philips PET Private Group "));
        assert!(!list.is_safe(Tag(0x7053, 0x1000), "ANOTHER CREATOR"));
        assert!(!list.is_safe(Tag(0x7053, 0x1001), "Philips PET Private Group"));
    }

    #[test]
    fn creators_and_blocks() {
        assert!(is_creator(Tag(0x0009, 0x0010)));
        assert!(!is_creator(Tag(0x0009, 0x1010)));
        assert!(!is_creator(Tag(0x0008, 0x0010)));
        assert_eq!(creator_of(Tag(0x0009, 0x10AB)), Some(Tag(0x0009, 0x0010)));
        assert_eq!(creator_of(Tag(0x0009, 0x0010)), None);
        assert_eq!(creator_of(Tag(0x0008, 0x1010)), None);
    }
}
