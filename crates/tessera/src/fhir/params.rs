//! FHIR search parameters of `GET /fhir/ImagingStudy` as a plan: filters the QIDO machinery
//! runs in the index (`query::Filter` on study columns), checks that need the built
//! resource (identifier systems), paging and `_elements`.
//!
//! Decisions:
//! - Strict by default: an unknown or unsupported parameter or modifier is a 400
//!   OperationOutcome; `Prefer: handling=lenient` ignores them instead (FHIR R4 3.1.1.5.1).
//!   Parameters with an empty value are ignored, as FHIR says.
//! - `identifier`: `urn:dicom:uid|urn:oid:<uid>` and bare `urn:oid:<uid>` match the study UID;
//!   any other value is an accession number, `system|value` also matching its issuer's system
//!   and `|value` an accession number without issuer. Values of one parameter (comma: OR)
//!   must all be of one kind.
//! - `patient`: Tessera holds no Patient resources, so `patient=[Patient/]X` matches studies
//!   whose PatientID is X (any issuer). `subject:identifier` / `patient:identifier`
//!   (`[system|]value`) match PatientID and, with a system, the subject identifier's system
//!   (the issuer of patient ID, or the configured default system).
//! - `started`: prefixes eq (default), ge, gt, le, lt on dates `YYYY`, `YYYY-MM`,
//!   `YYYY-MM-DD`, compared with StudyDate; a time part is refused (StudyTime is local time
//!   and the offset is often unknown).
//! - `modality`: `[DCM system|]code`, any series of the study; another system matches nothing.
//! - `_count`: default 20, at most 100 (larger values are reduced); `_count=0` gives the
//!   total only. Paging: the next link carries `_offset`.

use super::codes;
use super::datetime;
use crate::fhir::FhirError;
use crate::query::attributes;
use crate::query::{Filter, Matcher, Target};

pub const DEFAULT_COUNT: u32 = 20;
pub const MAX_COUNT: u32 = 100;

/// Top-level elements of an R4 ImagingStudy that `_elements` may name.
const ELEMENTS: &[&str] = &[
    "text",
    "contained",
    "extension",
    "modifierExtension",
    "implicitRules",
    "language",
    "identifier",
    "status",
    "modality",
    "subject",
    "encounter",
    "started",
    "basedOn",
    "referrer",
    "interpreter",
    "endpoint",
    "numberOfSeries",
    "numberOfInstances",
    "procedureReference",
    "procedureCode",
    "location",
    "reasonCode",
    "reasonReference",
    "note",
    "description",
    "series",
];

/// A token value: `system|value`, `|value` (system `Some("")`: no system) or `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub system: Option<String>,
    pub value: String,
}

impl Token {
    /// Whether an identifier with this (system, value) matches.
    pub fn matches(&self, system: Option<&str>, value: &str) -> bool {
        value == self.value
            && match self.system.as_deref() {
                None => true,
                Some("") => system.is_none(),
                Some(wanted) => system == Some(wanted),
            }
    }
}

/// What must hold of the built resource (one inner list per parameter: any token matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// An accession identifier (type ACSN) matches one of the tokens.
    Accession(Vec<Token>),
    /// `subject.identifier` matches one of the tokens.
    Subject(Vec<Token>),
}

#[derive(Debug, Clone)]
pub struct SearchPlan {
    pub filters: Vec<Filter>,
    pub checks: Vec<Check>,
    /// Some value can never match (e.g. a modality of another code system).
    pub matches_nothing: bool,
    pub count: u32,
    pub offset: u64,
    pub elements: Option<Vec<String>>,
    /// The parameters to repeat in self and next links (without `_offset`).
    pub link_params: Vec<(String, String)>,
}

fn invalid(message: impl Into<String>) -> FhirError {
    FhirError::BadRequest(message.into())
}

/// Split on `sep` where it is not escaped with `\`; pieces keep their escapes.
fn split_unescaped(value: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// The comma-separated (OR) values of a parameter, unescaped later.
fn values(name: &str, value: &str) -> Result<Vec<String>, FhirError> {
    let values = split_unescaped(value, ',');
    if values.iter().any(|v| v.is_empty()) {
        return Err(invalid(format!(
            "{name}: empty value in the list {value:?}"
        )));
    }
    Ok(values)
}

fn token(name: &str, raw: &str) -> Result<Token, FhirError> {
    let parts = split_unescaped(raw, '|');
    let token = match parts.as_slice() {
        [value] => Token {
            system: None,
            value: unescape(value),
        },
        [system, value] => Token {
            system: Some(unescape(system)),
            value: unescape(value),
        },
        _ => return Err(invalid(format!("{name}: {raw:?} has more than one '|'"))),
    };
    if token.value.is_empty() {
        return Err(invalid(format!("{name}: {raw:?} has no value")));
    }
    Ok(token)
}

fn column(keyword: &str) -> Target {
    Target::Column(attributes::by_keyword(keyword).expect("study attributes have columns"))
}

fn one_or_list(values: Vec<String>) -> Matcher {
    match <[String; 1]>::try_from(values) {
        Ok([only]) => Matcher::Exact(only),
        Err(values) => Matcher::List(values),
    }
}

fn is_uid(value: &str) -> bool {
    tessera_dicom::uid::StudyUid::parse(value).is_ok()
}

/// A `_count` or `_offset` value.
fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, FhirError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{name}: {value:?} is not a non-negative integer")))
}

/// The element list of `_elements`, checked against ImagingStudy's elements.
pub fn elements(value: &str) -> Result<Vec<String>, FhirError> {
    let mut out = Vec::new();
    for element in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let element = element.strip_prefix("ImagingStudy.").unwrap_or(element);
        if matches!(element, "id" | "meta" | "resourceType") {
            continue;
        }
        if !ELEMENTS.contains(&element) {
            return Err(invalid(format!(
                "_elements: {element:?} is not an element of ImagingStudy"
            )));
        }
        out.push(element.to_string());
    }
    Ok(out)
}

struct Parser {
    plan: SearchPlan,
    strict: bool,
}

impl Parser {
    fn identifier(&mut self, value: &str) -> Result<(), FhirError> {
        let mut uids = Vec::new();
        let mut accessions = Vec::new();
        for raw in values("identifier", value)? {
            let token = token("identifier", &raw)?;
            let uid_value = token.value.strip_prefix("urn:oid:");
            match (token.system.as_deref(), uid_value) {
                (Some(codes::DICOM_UID), Some(uid)) | (None, Some(uid)) => {
                    if !is_uid(uid) {
                        return Err(invalid(format!(
                            "identifier: {uid:?} is not a valid DICOM UID"
                        )));
                    }
                    uids.push(uid.to_string());
                }
                (Some(codes::DICOM_UID), None) => {
                    return Err(invalid(format!(
                        "identifier: a {} value is written urn:oid:<uid>, not {:?}",
                        codes::DICOM_UID,
                        token.value
                    )))
                }
                _ => accessions.push(token),
            }
        }
        match (uids.is_empty(), accessions.is_empty()) {
            (false, true) => self.plan.filters.push(Filter {
                target: column("StudyInstanceUID"),
                matcher: one_or_list(uids),
            }),
            (true, false) => {
                let values = accessions.iter().map(|t| t.value.clone()).collect();
                self.plan.filters.push(Filter {
                    target: column("AccessionNumber"),
                    matcher: one_or_list(values),
                });
                if accessions.iter().any(|t| t.system.is_some()) {
                    self.plan.checks.push(Check::Accession(accessions));
                }
            }
            _ => {
                return Err(FhirError::NotSupported(
                    "identifier: study UIDs and accession numbers cannot be combined in one \
                     parameter (OR); use two searches"
                        .into(),
                ))
            }
        }
        Ok(())
    }

    fn patient(&mut self, value: &str) -> Result<(), FhirError> {
        let mut ids = Vec::new();
        for raw in values("patient", value)? {
            let raw = unescape(&raw);
            let id = raw.strip_prefix("Patient/").unwrap_or(&raw);
            if id.contains('/') {
                return Err(invalid(format!(
                    "patient: {raw:?} is not a Patient reference"
                )));
            }
            ids.push(id.to_string());
        }
        self.plan.filters.push(Filter {
            target: column("PatientID"),
            matcher: one_or_list(ids),
        });
        Ok(())
    }

    fn subject_identifier(&mut self, name: &str, value: &str) -> Result<(), FhirError> {
        let tokens = values(name, value)?
            .iter()
            .map(|raw| token(name, raw))
            .collect::<Result<Vec<_>, _>>()?;
        self.plan.filters.push(Filter {
            target: column("PatientID"),
            matcher: one_or_list(tokens.iter().map(|t| t.value.clone()).collect()),
        });
        if tokens.iter().any(|t| t.system.is_some()) {
            self.plan.checks.push(Check::Subject(tokens));
        }
        Ok(())
    }

    fn started(&mut self, value: &str) -> Result<(), FhirError> {
        if split_unescaped(value, ',').len() > 1 {
            return Err(FhirError::NotSupported(
                "started: one date per parameter (repeat the parameter for a range)".into(),
            ));
        }
        let (prefix, date) = match value.get(..2) {
            Some(p) if p.chars().all(|c| c.is_ascii_lowercase()) => (p, &value[2..]),
            _ => ("eq", value),
        };
        let (first, last) = datetime::search_period(date).ok_or_else(|| {
            invalid(format!(
                "started: {date:?} is not a date (YYYY, YYYY-MM or YYYY-MM-DD; times are not supported)"
            ))
        })?;
        let (from, to) = match prefix {
            "eq" => (Some(first), Some(last)),
            "ge" => (Some(first), None),
            "gt" => (Some(datetime::next_day(&last, 1)), None),
            "le" => (None, Some(last)),
            "lt" => (None, Some(datetime::next_day(&first, -1))),
            other => {
                return Err(FhirError::NotSupported(format!(
                    "started: the prefix {other:?} is not supported (eq, ge, gt, le, lt)"
                )))
            }
        };
        self.plan.filters.push(Filter {
            target: column("StudyDate"),
            matcher: Matcher::Range { from, to },
        });
        Ok(())
    }

    fn modality(&mut self, value: &str) -> Result<(), FhirError> {
        let mut codes_wanted = Vec::new();
        for raw in values("modality", value)? {
            let token = token("modality", &raw)?;
            match token.system.as_deref() {
                None | Some(codes::DCM) => codes_wanted.push(token.value),
                Some(_) => {}
            }
        }
        if codes_wanted.is_empty() {
            self.plan.matches_nothing = true;
        } else {
            self.plan.filters.push(Filter {
                target: column("ModalitiesInStudy"),
                matcher: Matcher::List(codes_wanted),
            });
        }
        Ok(())
    }

    fn unsupported(&self, name: &str) -> Result<(), FhirError> {
        if self.strict {
            Err(FhirError::NotSupported(format!(
                "the search parameter {name:?} is not supported (see /fhir/metadata)"
            )))
        } else {
            Ok(())
        }
    }

    /// One parameter; `Ok(true)` when it is kept in the links.
    fn parameter(&mut self, name: &str, value: &str) -> Result<bool, FhirError> {
        match name {
            "_format" | "_pretty" => Ok(true),
            "_count" => {
                self.plan.count = number::<u32>("_count", value)?.min(MAX_COUNT);
                Ok(true)
            }
            "_offset" => {
                self.plan.offset = number("_offset", value)?;
                Ok(false)
            }
            "_elements" => {
                self.plan.elements = Some(elements(value)?);
                Ok(true)
            }
            _ if value.is_empty() => Ok(false),
            "_id" => {
                let ids: Vec<String> = values("_id", value)?
                    .iter()
                    .map(|v| unescape(v))
                    .filter(|v| is_uid(v))
                    .collect();
                if ids.is_empty() {
                    self.plan.matches_nothing = true;
                } else {
                    self.plan.filters.push(Filter {
                        target: column("StudyInstanceUID"),
                        matcher: one_or_list(ids),
                    });
                }
                Ok(true)
            }
            "identifier" => self.identifier(value).map(|_| true),
            "patient" | "subject" => self.patient(value).map(|_| true),
            "patient:identifier" | "subject:identifier" => {
                self.subject_identifier(name, value).map(|_| true)
            }
            "started" => self.started(value).map(|_| true),
            "modality" => self.modality(value).map(|_| true),
            _ => self.unsupported(name).map(|_| false),
        }
    }
}

/// Parse the decoded query parameters of a search. `strict`: unknown parameters are errors.
pub fn parse(pairs: &[(String, String)], strict: bool) -> Result<SearchPlan, FhirError> {
    let mut parser = Parser {
        plan: SearchPlan {
            filters: Vec::new(),
            checks: Vec::new(),
            matches_nothing: false,
            count: DEFAULT_COUNT,
            offset: 0,
            elements: None,
            link_params: Vec::new(),
        },
        strict,
    };
    for (name, value) in pairs {
        if parser.parameter(name, value)? {
            parser.plan.link_params.push((name.clone(), value.clone()));
        }
    }
    Ok(parser.plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(items: &[(&str, &str)]) -> Result<SearchPlan, FhirError> {
        let pairs: Vec<(String, String)> = items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse(&pairs, true)
    }

    #[test]
    fn identifiers_by_kind() {
        let p = plan(&[("identifier", "urn:dicom:uid|urn:oid:1.2.3")]).unwrap();
        assert_eq!(p.filters[0].matcher, Matcher::Exact("1.2.3".into()));
        let p = plan(&[("identifier", "urn:oid:1.2.3,urn:oid:1.2.4")]).unwrap();
        assert_eq!(
            p.filters[0].matcher,
            Matcher::List(vec!["1.2.3".into(), "1.2.4".into()])
        );
        let p = plan(&[("identifier", "http://issuer|A\\,1")]).unwrap();
        assert_eq!(p.filters[0].matcher, Matcher::Exact("A,1".into()));
        assert_eq!(
            p.checks,
            vec![Check::Accession(vec![Token {
                system: Some("http://issuer".into()),
                value: "A,1".into()
            }])]
        );
        assert!(plan(&[("identifier", "A1")]).unwrap().checks.is_empty());
        assert!(plan(&[("identifier", "urn:dicom:uid|1.2.3")]).is_err());
        assert!(plan(&[("identifier", "urn:oid:1.2.x")]).is_err());
        assert!(matches!(
            plan(&[("identifier", "urn:oid:1.2.3,A1")]),
            Err(FhirError::NotSupported(_))
        ));
    }

    #[test]
    fn dates_prefixes_and_paging() {
        let range = |v: &str| match plan(&[("started", v)]).unwrap().filters[0].matcher.clone() {
            Matcher::Range { from, to } => (from, to),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            range("2020-02"),
            (Some("20200201".into()), Some("20200229".into()))
        );
        assert_eq!(range("gt2020-12-31"), (Some("20210101".into()), None));
        assert_eq!(range("lt2020"), (None, Some("20191231".into())));
        assert_eq!(range("le2020-03"), (None, Some("20200331".into())));
        assert!(plan(&[("started", "ne2020")]).is_err());
        assert!(plan(&[("started", "2020-01-01T10:00:00Z")]).is_err());
        let p = plan(&[("_count", "500"), ("_offset", "40")]).unwrap();
        assert_eq!((p.count, p.offset), (MAX_COUNT, 40));
        assert!(p.link_params.iter().all(|(n, _)| n != "_offset"));
        assert!(plan(&[("_count", "-1")]).is_err());
        assert!(plan(&[("bogus", "1")]).is_err());
        let pairs = vec![("bogus".to_string(), "1".to_string())];
        assert!(parse(&pairs, false).is_ok());
        assert!(
            plan(&[("modality", "http://other|CT")])
                .unwrap()
                .matches_nothing
        );
        assert!(plan(&[("_elements", "series,nonsense")]).is_err());
    }
}
