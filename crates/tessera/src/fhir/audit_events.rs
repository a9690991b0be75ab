//! `/fhir/AuditEvent`: the audit trail as FHIR R4 AuditEvent resources, searchable by
//! `date` (with the prefixes eq, ge, gt, le, lt), `agent` (a subject, an API key name or a
//! client id), `entity` (a study: its UID, `urn:oid:UID`, or `ImagingStudy/UID`), `patient`
//! (a PatientID, optionally `system|value` or `Patient?identifier=` style `|value`),
//! `_count` and `_offset`. Newest first.

use serde_json::Value;

use super::audit_event::audit_event;
use super::bundle::{searchset, Page};
use super::datetime::search_period;
use super::FhirError;
use crate::audit::{AuditLog, AuditQuery};
use crate::time::days_from_civil;

const DEFAULT_COUNT: u32 = 100;
const MAX_COUNT: u32 = 1000;

/// The trail search of these query pairs.
pub fn query_of(pairs: &[(String, String)]) -> Result<AuditQuery, FhirError> {
    let mut query = AuditQuery {
        limit: DEFAULT_COUNT,
        ..AuditQuery::default()
    };
    for (name, value) in pairs {
        match name.as_str() {
            "date" => date(&mut query, value)?,
            "agent" | "agent.identifier" => {
                query.agent = Some(value.rsplit('|').next().unwrap_or(value).to_string())
            }
            "entity" | "entity.identifier" => query.study_uid = Some(study_of(value)),
            "patient" | "patient.identifier" | "entity-patient" => {
                let id = value.rsplit('|').next().unwrap_or(value);
                query.patient_id = Some(id.trim_start_matches("Patient/").to_string())
            }
            "_count" => {
                query.limit = value
                    .parse::<u32>()
                    .map_err(|_| FhirError::BadRequest(format!("_count={value} is not a number")))?
                    .min(MAX_COUNT)
            }
            "_offset" => {
                query.offset = value.parse().map_err(|_| {
                    FhirError::BadRequest(format!("_offset={value} is not a number"))
                })?
            }
            "_format" | "_pretty" | "_elements" => {}
            other => {
                return Err(FhirError::NotSupported(format!(
                    "AuditEvent search parameter {other} is not supported \
                     (date, agent, entity, patient, _count, _offset)"
                )))
            }
        }
    }
    Ok(query)
}

/// `urn:oid:1.2.3`, `ImagingStudy/1.2.3`, `urn:dicom:uid|urn:oid:1.2.3` or `1.2.3`.
fn study_of(value: &str) -> String {
    let value = value.rsplit('|').next().unwrap_or(value);
    let value = value.rsplit('/').next().unwrap_or(value);
    value.trim_start_matches("urn:oid:").to_string()
}

/// One `date` parameter: a prefix and a day, month, year or instant.
fn date(query: &mut AuditQuery, raw: &str) -> Result<(), FhirError> {
    let (prefix, value) = match raw.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &raw[2..]),
        _ => ("eq", raw),
    };
    let bad = || {
        FhirError::BadRequest(format!(
            "date={raw}: expected [eq|ge|gt|le|lt]YYYY[-MM[-DD[Thh:mm:ss[.fff]Z]]]"
        ))
    };
    // [start, end) of the value in microseconds.
    let (start, end) = if let Some(micros) = instant_micros(value) {
        (micros, micros + 1)
    } else {
        let (first, last) = search_period(value).ok_or_else(bad)?;
        (
            day_micros(&first).ok_or_else(bad)?,
            day_micros(&last).ok_or_else(bad)? + DAY,
        )
    };
    let (from, until) = match prefix {
        "ge" => (Some(start), None),
        "gt" => (Some(end), None),
        "le" => (None, Some(end)),
        "lt" => (None, Some(start)),
        _ => (Some(start), Some(end)),
    };
    if let Some(from) = from {
        query.from_micros = Some(query.from_micros.map_or(from, |f| f.max(from)));
    }
    if let Some(until) = until {
        query.until_micros = Some(query.until_micros.map_or(until, |u| u.min(until)));
    }
    Ok(())
}

const DAY: i64 = 86_400_000_000;

/// `YYYYMMDD` as microseconds since the epoch (midnight UTC).
fn day_micros(yyyymmdd: &str) -> Option<i64> {
    let year: i64 = yyyymmdd.get(0..4)?.parse().ok()?;
    let month: u32 = yyyymmdd.get(4..6)?.parse().ok()?;
    let day: u32 = yyyymmdd.get(6..8)?.parse().ok()?;
    Some(days_from_civil(year, month, day) * DAY)
}

/// `YYYY-MM-DDThh:mm:ss[.fff…]Z` as microseconds since the epoch.
fn instant_micros(value: &str) -> Option<i64> {
    let (date, time) = value.split_once('T')?;
    let time = time.strip_suffix('Z')?;
    let (first, _) = search_period(date).filter(|_| date.len() == 10)?;
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut micros = 0i64;
    for (i, c) in fraction.chars().take(6).enumerate() {
        micros += i64::from(c.to_digit(10)?) * 10i64.pow(5 - i as u32);
    }
    Some(day_micros(&first)? + ((h * 60 + m) * 60 + s) * 1_000_000 + micros)
}

/// A searchset Bundle of the matching records.
pub async fn search(
    log: &dyn AuditLog,
    pairs: &[(String, String)],
    base: &str,
    observer: &str,
) -> Result<Value, FhirError> {
    let query = query_of(pairs)?;
    // One more than asked: whether there is a next page.
    let mut probe = query.clone();
    probe.limit = query.limit.saturating_add(1);
    let mut records = log.search_audit(&probe).await?;
    let more = records.len() > query.limit as usize;
    records.truncate(query.limit as usize);
    let own: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n != "_offset")
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect();
    let link = |offset: u32| {
        let mut parts = own.clone();
        parts.push(format!("_offset={offset}"));
        format!("{base}/fhir/AuditEvent?{}", parts.join("&"))
    };
    let shown = records.len() as u64;
    let page = Page {
        total: u64::from(query.offset) + shown + u64::from(more),
        self_url: link(query.offset),
        next_url: more.then(|| link(query.offset + query.limit)),
        entries: records
            .iter()
            .map(|r| {
                (
                    format!("{base}/fhir/AuditEvent/{}", r.id),
                    audit_event(r, observer),
                )
            })
            .collect(),
    };
    let mut bundle = searchset(page);
    if more {
        // The total is not counted (the trail can be large): only what is known is said.
        if let Some(object) = bundle.as_object_mut() {
            object.remove("total");
        }
    }
    Ok(bundle)
}

/// One AuditEvent by its id.
pub async fn read(log: &dyn AuditLog, id: &str, observer: &str) -> Result<Value, FhirError> {
    let not_found = || FhirError::NotFound(format!("AuditEvent/{id} is not known"));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let record = log.audit_record(id).await?.ok_or_else(not_found)?;
    Ok(audit_event(&record, observer))
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dates_agents_entities_and_patients() {
        let q = query_of(&pairs(&[
            ("date", "ge2026-12-03"),
            ("date", "lt2026-12-04T12:00:00Z"),
            ("agent", "api-key:scanner"),
            ("entity", "urn:oid:1.2.3"),
            ("patient", "urn:oid:9|PAT-1"),
            ("_count", "5"),
        ]))
        .unwrap();
        assert_eq!(q.from_micros, Some(1_796_256_000_000_000));
        assert_eq!(q.until_micros, Some(1_796_256_000_000_000 + DAY + DAY / 2));
        assert_eq!(q.agent.as_deref(), Some("api-key:scanner"));
        assert_eq!(q.study_uid.as_deref(), Some("1.2.3"));
        assert_eq!(q.patient_id.as_deref(), Some("PAT-1"));
        assert_eq!(q.limit, 5);
        let day = query_of(&pairs(&[("date", "2026-12")])).unwrap();
        assert_eq!(day.from_micros, Some(days_from_civil(2026, 12, 1) * DAY));
        assert_eq!(day.until_micros, Some(days_from_civil(2027, 1, 1) * DAY));
        assert_eq!(study_of("ImagingStudy/1.2.3"), "1.2.3");
        assert!(matches!(
            query_of(&pairs(&[("date", "yesterday")])),
            Err(FhirError::BadRequest(_))
        ));
        assert!(matches!(
            query_of(&pairs(&[("action", "R")])),
            Err(FhirError::NotSupported(_))
        ));
    }
}
