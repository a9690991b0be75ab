//! Parsing of QIDO-RS query parameters into a [`SearchQuery`]: everything is validated and
//! errors name the offending parameter. Matching rules: PS3.4 C.2.2.2.

use dicom_core::VR;

use super::attributes::{self, resolve_attribute, Kind, Level};
use super::error::QueryError;
use super::extra::ExtraAttribute;
use super::model::{Filter, Limits, Matcher, SearchQuery, Target};
use tessera_dicom::datetime::{self, Bound};
use tessera_dicom::person_name;
use tessera_dicom::uid::{SeriesUid, StudyUid};

fn has_wildcard(value: &str) -> bool {
    value.contains(['*', '?'])
}

fn split_list(value: &str) -> Vec<&str> {
    value
        .split(['\\', ','])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Parse a range `a-b`, `a-`, `-b` (or a single value, which is the range of its precision).
fn range(
    name: &str,
    value: &str,
    normalise: impl Fn(&str, Bound) -> Option<String>,
    what: &str,
) -> Result<Matcher, QueryError> {
    if has_wildcard(value) {
        return Err(QueryError::new(
            name,
            format!("wild cards are not allowed on {what} values"),
        ));
    }
    let bad = |part: &str| QueryError::new(name, format!("{part:?} is not a valid {what}"));
    let (from, to) = match value.split_once('-') {
        Some((from, to)) => (from.trim(), to.trim()),
        None => (value.trim(), value.trim()),
    };
    if from.is_empty() && to.is_empty() {
        return Err(QueryError::new(name, "a range needs at least one bound"));
    }
    let from = (!from.is_empty())
        .then(|| normalise(from, Bound::Lower).ok_or_else(|| bad(from)))
        .transpose()?;
    let to = (!to.is_empty())
        .then(|| normalise(to, Bound::Upper).ok_or_else(|| bad(to)))
        .transpose()?;
    if let (Some(f), Some(t)) = (&from, &to) {
        if f > t {
            return Err(QueryError::new(name, "the range starts after it ends"));
        }
    }
    Ok(Matcher::Range { from, to })
}

fn date_bound(value: &str, bound: Bound) -> Option<String> {
    let date = datetime::date(value)?;
    Some(match bound {
        Bound::Lower | Bound::Upper => date,
    })
}

/// The matcher for a value of an attribute of this kind.
fn matcher(
    name: &str,
    kind: Kind,
    vr: &str,
    value: &str,
    fuzzy: bool,
) -> Result<Matcher, QueryError> {
    match kind {
        Kind::Uid => {
            if has_wildcard(value) {
                return Err(QueryError::new(name, "wild cards are not allowed on UIDs"));
            }
            let uids = split_list(value);
            for uid in &uids {
                tessera_dicom::uid::StudyUid::parse(uid)
                    .map_err(|_| QueryError::new(name, format!("{uid:?} is not a valid UID")))?;
            }
            Ok(match uids.as_slice() {
                [one] => Matcher::Exact(one.to_string()),
                _ => Matcher::List(uids.into_iter().map(str::to_string).collect()),
            })
        }
        Kind::Date => range(name, value, date_bound, "date (YYYYMMDD)"),
        Kind::Time => range(name, value, datetime::time, "time (HHMMSS.FFFFFF)"),
        Kind::DateTime => range(
            name,
            value,
            datetime::date_time,
            "date-time (YYYYMMDDHHMMSS.FFFFFF)",
        ),
        Kind::Integer => {
            let number = value
                .trim()
                .parse::<i64>()
                .map_err(|_| QueryError::new(name, format!("{value:?} is not an integer")))?;
            Ok(Matcher::Integer(number))
        }
        Kind::PersonName(_) if fuzzy => {
            let terms = person_name::fuzzy_terms(value);
            if terms.is_empty() {
                return Err(QueryError::new(
                    name,
                    "a fuzzy name query needs at least one letter",
                ));
            }
            Ok(Matcher::NameFuzzy(terms))
        }
        Kind::PersonName(_) => {
            let groups: Vec<&str> = value.split('=').collect();
            let literal = if groups.len() == 1 {
                vec![(None, groups[0].trim_end_matches('^').to_lowercase())]
            } else {
                groups
                    .iter()
                    .enumerate()
                    .take(3)
                    .filter(|(_, g)| !g.is_empty())
                    .map(|(i, g)| (Some(i), g.trim_end_matches('^').to_lowercase()))
                    .collect()
            };
            Ok(Matcher::NameLiteral(literal))
        }
        Kind::Modalities => Ok(Matcher::List(
            split_list(value).into_iter().map(str::to_string).collect(),
        )),
        Kind::Text if vr == "CS" && !has_wildcard(value) && value.contains(['\\', ',']) => Ok(
            Matcher::List(split_list(value).into_iter().map(str::to_string).collect()),
        ),
        Kind::Text if has_wildcard(value) => Ok(Matcher::Wildcard(value.to_string())),
        Kind::Text => Ok(Matcher::Exact(value.to_string())),
        Kind::Computed | Kind::ReturnOnly => Err(QueryError::new(
            name,
            "this attribute is returned but not supported for matching",
        )),
    }
}

/// Kind for an extra attribute, from its VR.
fn extra_kind(vr: &str) -> Kind {
    match vr {
        "DA" => Kind::Date,
        "TM" => Kind::Time,
        "DT" => Kind::DateTime,
        "UI" => Kind::Uid,
        _ => Kind::Text,
    }
}

const CONTROL: [&str; 4] = ["includefield", "limit", "offset", "fuzzymatching"];

/// Parse the query string pairs of a QIDO request at `level` within the path scope.
pub fn parse(
    level: Level,
    study: Option<StudyUid>,
    series: Option<SeriesUid>,
    pairs: &[(String, String)],
    extras: &[ExtraAttribute],
    limits: Limits,
) -> Result<SearchQuery, QueryError> {
    let mut include = Vec::new();
    let mut include_all = false;
    let mut limit = None;
    let mut offset = 0u64;
    let mut fuzzy = false;
    for (name, value) in pairs {
        match name.to_ascii_lowercase().as_str() {
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field.eq_ignore_ascii_case("all") {
                        include_all = true;
                    } else {
                        include.push(
                            resolve_attribute(field)
                                .map_err(|e| QueryError::new("includefield", e.to_string()))?
                                .0,
                        );
                    }
                }
            }
            "limit" => {
                let n: u32 = value.parse().map_err(|_| {
                    QueryError::new("limit", format!("{value:?} is not a non-negative integer"))
                })?;
                limit = Some(n);
            }
            "offset" => {
                offset = value.parse().map_err(|_| {
                    QueryError::new("offset", format!("{value:?} is not a non-negative integer"))
                })?;
            }
            "fuzzymatching" => {
                fuzzy = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" | "" => false,
                    _ => return Err(QueryError::new("fuzzymatching", "must be true or false")),
                }
            }
            _ => {}
        }
    }

    let mut filters = Vec::new();
    let mut date_range: Option<(usize, Matcher)> = None;
    let mut time_range: Option<(usize, Matcher)> = None;
    for (name, value) in pairs {
        if CONTROL.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let (tag, vr) = resolve_attribute(name)?;
        if vr == Some(VR::SQ) {
            return Err(QueryError::new(
                name.as_str(),
                "sequence attributes are not supported as matching keys",
            ));
        }
        if value.is_empty() {
            // Universal matching: no condition, but the attribute is returned.
            include.push(tag);
            continue;
        }
        let (target, kind, vr_name, attr_level) = if let Some(attribute) = attributes::by_tag(tag) {
            (
                Target::Column(attribute),
                attribute.kind,
                attribute.vr,
                attribute.level,
            )
        } else if let Some(extra) = extras.iter().find(|e| e.tag == tag) {
            (
                Target::Extra(extra.clone()),
                extra_kind(&extra.vr),
                "",
                extra.level,
            )
        } else {
            return Err(QueryError::new(
                name.as_str(),
                "this attribute is not supported for matching (an operator can add it as an extra query attribute)",
            ));
        };
        if attr_level > level {
            return Err(QueryError::new(
                name.as_str(),
                format!(
                    "a {}-level attribute cannot be matched in a {}-level query",
                    attr_level.name(),
                    level.name()
                ),
            ));
        }
        let matcher = matcher(name, kind, vr_name, value, fuzzy)?;
        if let Target::Column(attribute) = target {
            if attribute.keyword == "StudyDate" && matches!(matcher, Matcher::Range { .. }) {
                date_range = Some((filters.len(), matcher.clone()));
            }
            if attribute.keyword == "StudyTime"
                && matches!(matcher, Matcher::Range { .. })
                && value.contains('-')
            {
                time_range = Some((filters.len(), matcher.clone()));
            }
        }
        include.push(tag);
        filters.push(Filter { target, matcher });
    }
    // StudyDate and StudyTime both ranges: one date-time range (PS3.4 C.2.2.2.5.1).
    if let (
        Some((di, Matcher::Range { from: df, to: dt })),
        Some((ti, Matcher::Range { from: tf, to: tt })),
    ) = (date_range, time_range)
    {
        let from = df.map(|d| format!("{d}{}", tf.unwrap_or_else(|| "000000.000000".into())));
        let to = dt.map(|d| format!("{d}{}", tt.unwrap_or_else(|| "235959.999999".into())));
        for i in [di.max(ti), di.min(ti)] {
            filters.remove(i);
        }
        filters.push(Filter {
            target: Target::StudyDateTime,
            matcher: Matcher::Range { from, to },
        });
    }
    if let Some(study) = &study {
        filters.push(scope_filter("StudyInstanceUID", study.as_str()));
    }
    if let Some(series) = &series {
        filters.push(scope_filter("SeriesInstanceUID", series.as_str()));
    }
    let effective = match limit {
        Some(0) | None => limits.default_limit,
        Some(n) => n.min(limits.max_limit),
    };
    Ok(SearchQuery {
        level,
        study,
        series,
        filters,
        include,
        include_all,
        limit: effective.max(1),
        offset,
        limit_is_servers: limit.is_none() || limit.is_some_and(|n| n > limits.max_limit),
    })
}

fn scope_filter(keyword: &str, uid: &str) -> Filter {
    let attribute = attributes::by_keyword(keyword).expect("scope attributes have columns");
    Filter {
        target: Target::Column(attribute),
        matcher: Matcher::Exact(uid.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::Tag;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const LIMITS: Limits = Limits {
        default_limit: 100,
        max_limit: 1000,
    };

    fn study_query(items: &[(&str, &str)]) -> Result<SearchQuery, QueryError> {
        parse(Level::Study, None, None, &pairs(items), &[], LIMITS)
    }

    #[test]
    fn keywords_tags_and_errors_name_the_parameter() {
        let q = study_query(&[("00100020", "X"), ("PatientName", "Doe*")]).unwrap();
        assert_eq!(q.filters.len(), 2);
        let err = study_query(&[("PatientNam", "x")]).unwrap_err();
        assert_eq!(err.parameter, "PatientNam");
        let err = study_query(&[("limit", "ten")]).unwrap_err();
        assert_eq!(err.parameter, "limit");
        let err = study_query(&[("StudyDate", "20201345")]).unwrap_err();
        assert_eq!(err.parameter, "StudyDate");
        let err = study_query(&[("Modality", "CT")]).unwrap_err();
        assert!(err.reason.contains("series-level"));
        let err = study_query(&[("ReferencedStudySequence", "x")]).unwrap_err();
        assert!(err.reason.contains("sequence"));
        assert!(study_query(&[("StudyInstanceUID", "1.2.*")]).is_err());
        assert!(study_query(&[("StudyInstanceUID", "1.2.abc")]).is_err());
    }

    #[test]
    fn ranges_and_lists() {
        let q = study_query(&[("StudyDate", "20200101-")]).unwrap();
        assert_eq!(
            q.filters[0].matcher,
            Matcher::Range {
                from: Some("20200101".into()),
                to: None
            }
        );
        let q = study_query(&[("StudyInstanceUID", "1.2.3\\1.2.4")]).unwrap();
        assert_eq!(
            q.filters[0].matcher,
            Matcher::List(vec!["1.2.3".into(), "1.2.4".into()])
        );
        let q = study_query(&[
            ("StudyDate", "20200101-20200102"),
            ("StudyTime", "1000-1100"),
        ])
        .unwrap();
        assert!(matches!(q.filters[0].target, Target::StudyDateTime));
        assert_eq!(
            q.filters[0].matcher,
            Matcher::Range {
                from: Some("20200101100000.000000".into()),
                to: Some("20200102110059.999999".into())
            }
        );
        assert!(study_query(&[("StudyDate", "20200102-20200101")]).is_err());
    }

    #[test]
    fn limits_and_universal_matching() {
        let q = study_query(&[("limit", "5000"), ("PatientID", "")]).unwrap();
        assert_eq!(q.limit, 1000);
        assert!(q.limit_is_servers);
        assert!(q.filters.is_empty());
        assert_eq!(q.include, vec![Tag(0x0010, 0x0020)]);
        let q = study_query(&[("limit", "10")]).unwrap();
        assert_eq!((q.limit, q.limit_is_servers), (10, false));
    }
}

#[cfg(test)]
mod proptests;
