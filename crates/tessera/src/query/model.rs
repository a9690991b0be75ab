//! A QIDO-RS request as typed data: level, scope from the path, filters, what to return,
//! paging. Matching rules: PS3.4 C.2.2.2 (single value, list of UIDs, wild card, range,
//! universal).

use dicom_core::Tag;

use super::attributes::{self, Attribute, Level};
use super::extra::ExtraAttribute;
use tessera_dicom::person_name::FuzzyTerm;
use tessera_dicom::uid::{SeriesUid, StudyUid};

/// What a filter is about.
#[derive(Debug, Clone)]
pub enum Target {
    /// An attribute with its own column.
    Column(&'static Attribute),
    /// StudyDate and StudyTime ranges combined (PS3.4 C.2.2.2.5.1).
    StudyDateTime,
    /// An operator-configured extra query attribute.
    Extra(ExtraAttribute),
}

/// How values are matched.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Exact(String),
    /// `*` and `?` wild cards; every other character literal.
    Wildcard(String),
    /// Any of these values.
    List(Vec<String>),
    /// Normalised bounds, inclusive; either may be open.
    Range {
        from: Option<String>,
        to: Option<String>,
    },
    Integer(i64),
    /// Case-insensitive literal per component group: (group index or any, lower-cased pattern).
    NameLiteral(Vec<(Option<usize>, String)>),
    /// Fuzzy word prefixes.
    NameFuzzy(Vec<FuzzyTerm>),
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub target: Target,
    pub matcher: Matcher,
}

/// Paging limits from settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default_limit: u32,
    pub max_limit: u32,
}

/// A parsed QIDO-RS request.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub level: Level,
    pub study: Option<StudyUid>,
    pub series: Option<SeriesUid>,
    pub filters: Vec<Filter>,
    /// Tags to return beyond the defaults (includefield, universal matches).
    pub include: Vec<Tag>,
    pub include_all: bool,
    pub limit: u32,
    pub offset: u64,
    /// Whether a cut at `limit` is the server's doing (then a Warning is due).
    pub limit_is_servers: bool,
}

impl SearchQuery {
    /// The levels whose default attributes are returned: the query's own, and those above
    /// it that the path does not fix.
    pub fn fragment_levels(&self) -> Vec<Level> {
        let mut levels = vec![self.level];
        if self.level == Level::Instance && self.series.is_none() {
            levels.push(Level::Series);
        }
        if self.level >= Level::Series && self.study.is_none() {
            levels.push(Level::Study);
        }
        levels
    }

    /// Column-backed attributes asked for (includefield, universal matching, filters) that
    /// the returned defaults do not already contain.
    pub fn extra_columns(&self) -> Vec<&'static attributes::Attribute> {
        let levels = self.fragment_levels();
        let mut out: Vec<&'static attributes::Attribute> = Vec::new();
        for tag in &self.include {
            let Some(attribute) = attributes::by_tag(*tag) else {
                continue;
            };
            let covered = levels.contains(&attribute.level)
                && attributes::defaults(attribute.level).contains(&attribute.keyword);
            let uid = matches!(
                attribute.keyword,
                "StudyInstanceUID" | "SeriesInstanceUID" | "SOPInstanceUID"
            );
            if attribute.level <= self.level
                && !covered
                && !uid
                && !out.iter().any(|a| a.tag == *tag)
            {
                out.push(attribute);
            }
        }
        out
    }

    /// Whether answering needs stored instance metadata (attributes without a column).
    pub fn needs_metadata(&self) -> bool {
        self.include_all
            || self
                .include
                .iter()
                .any(|t| attributes::by_tag(*t).is_none())
    }
}
