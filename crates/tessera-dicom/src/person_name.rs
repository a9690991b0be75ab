//! Person names (PN) prepared for matching (PS3.4 C.2.2.2.1, C.2.2.2.4, and fuzzy semantic
//! matching of person names).
//!
//! Literal matching is case-insensitive, as PS3.4 allows for PN: each component group
//! (alphabetic, ideographic, phonetic) is stored lower-cased with trailing empty components
//! removed, and a query matches if it matches any group (or, when the query itself has `=`,
//! the groups it names).
//!
//! Fuzzy matching is also accent-insensitive and works on words: every word of every
//! component is indexed with its position `{group}{component}` (group `a`, `i` or `p`,
//! component `1` to `5`). A query word is a prefix search on the words: `Harris^` (family
//! name) looks for words starting with `harris` at `a1`, `^Harris` (given name) at `?2`,
//! `harris` alone at any position. Wild cards in a query word match inside words: `*arri*`
//! finds `harrison` (OHIF's search box sends `*text*` with fuzzy matching on).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

const GROUPS: [char; 3] = ['a', 'i', 'p'];

/// The three component groups of a stored PN, lower-cased, trailing `^` removed.
pub fn literal_groups(value: &str) -> [Option<String>; 3] {
    let mut groups: [Option<String>; 3] = [None, None, None];
    for (slot, group) in groups.iter_mut().zip(value.split('=')) {
        let group = group.trim_end_matches(['^', ' ']).to_lowercase();
        if !group.is_empty() {
            *slot = Some(group);
        }
    }
    groups
}

/// Lower-case and strip accents (NFKD, combining marks dropped).
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of a stored PN for fuzzy matching, folded, with their position
/// (`a1` = alphabetic family name, `i2` = ideographic given name, ...).
pub fn words(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (group, text) in GROUPS.iter().zip(value.split('=')) {
        for (component, part) in text.split('^').take(5).enumerate() {
            for word in fold(part).split_whitespace() {
                let position = format!("{group}{}", component + 1);
                if !out
                    .iter()
                    .any(|(p, w): &(String, String)| *p == position && w == word)
                {
                    out.push((position, word.to_string()));
                }
            }
        }
    }
    out
}

/// One prefix pattern of a fuzzy query: the token must start with `prefix`, in which `*` and
/// `?` are DICOM wild cards; `group` and `component` of `None` accept any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzyTerm {
    pub group: Option<char>,
    pub component: Option<u8>,
    pub prefix: String,
}

/// Split a fuzzy query into terms. Position-aware when the query has `^` or `=`.
pub fn fuzzy_terms(query: &str) -> Vec<FuzzyTerm> {
    let positional_groups = query.contains('=');
    let positional_components = query.contains('^');
    let mut terms = Vec::new();
    for (g, text) in query.split('=').enumerate().take(3) {
        for (c, part) in text.split('^').enumerate().take(5) {
            for word in fold(part).split_whitespace() {
                // A trailing `*` adds nothing to a prefix; a word of wild cards only, nothing.
                let word = word.trim_end_matches('*');
                if word.chars().all(|c| c == '*') {
                    continue;
                }
                terms.push(FuzzyTerm {
                    group: positional_groups.then(|| GROUPS[g]),
                    component: positional_components.then_some(c as u8 + 1),
                    prefix: word.to_string(),
                });
            }
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_lower_case_without_trailing_components() {
        let [a, i, p] = literal_groups("Yamada^Tarou=山田^太郎=やまだ^たろう");
        assert_eq!(a.as_deref(), Some("yamada^tarou"));
        assert_eq!(i.as_deref(), Some("山田^太郎"));
        assert_eq!(p.as_deref(), Some("やまだ^たろう"));
        assert_eq!(
            literal_groups("DOE^JOHN^^^")[0].as_deref(),
            Some("doe^john")
        );
        assert_eq!(
            literal_groups("Ωμέγα^Γιώργος")[0].as_deref(),
            Some("ωμέγα^γιώργος")
        );
    }

    #[test]
    fn words_fold_accents_and_keep_positions() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            words("Müller^José María"),
            pairs(&[("a1", "muller"), ("a2", "jose"), ("a2", "maria")])
        );
        assert_eq!(
            words("George^Harrison=dzsordzs^herizon"),
            pairs(&[
                ("a1", "george"),
                ("a2", "harrison"),
                ("i1", "dzsordzs"),
                ("i2", "herizon")
            ])
        );
    }

    #[test]
    fn fuzzy_terms_keep_inner_wild_cards() {
        let prefixes =
            |q: &str| -> Vec<String> { fuzzy_terms(q).into_iter().map(|t| t.prefix).collect() };
        assert_eq!(prefixes("*essera*"), ["*essera"]);
        assert_eq!(prefixes("J?hn*"), ["j?hn"]);
        assert_eq!(prefixes("*MÜLLER*"), ["*muller"]);
        assert!(prefixes("* **").is_empty());
    }

    #[test]
    fn fuzzy_terms_are_positional_only_when_asked() {
        assert_eq!(
            fuzzy_terms("harris"),
            vec![FuzzyTerm {
                group: None,
                component: None,
                prefix: "harris".into()
            }]
        );
        assert_eq!(
            fuzzy_terms("^Harris"),
            vec![FuzzyTerm {
                group: None,
                component: Some(2),
                prefix: "harris".into()
            }]
        );
        assert_eq!(
            fuzzy_terms("=heri"),
            vec![FuzzyTerm {
                group: Some('i'),
                component: None,
                prefix: "heri".into()
            }]
        );
        assert_eq!(
            fuzzy_terms("José").first().map(|t| t.prefix.as_str()),
            Some("jose")
        );
    }
}
