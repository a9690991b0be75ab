//! DICOM dates and times as FHIR `date`, `dateTime` and `instant` values, and FHIR search
//! dates as DICOM date ranges.
//!
//! FHIR requires a time zone whenever a time is given. DICOM StudyTime is local time, and
//! its zone is known only from TimezoneOffsetFromUTC. So `started` is the full date-time with
//! that offset when the data set has one, and only the date otherwise: nothing is guessed.

use tessera_dicom::datetime::{self as dicom, Bound};

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// `(year, month, day)` of a DICOM DA value, checked against the calendar.
fn ymd(da: &str) -> Option<(u32, u32, u32)> {
    let d = dicom::date(da)?;
    let year: u32 = d[0..4].parse().ok()?;
    let month: u32 = d[4..6].parse().ok()?;
    let day: u32 = d[6..8].parse().ok()?;
    (year >= 1 && day <= days_in_month(year, month)).then_some((year, month, day))
}

/// A DICOM DA value as a FHIR `date` (`YYYY-MM-DD`).
pub fn date(da: &str) -> Option<String> {
    let (y, m, d) = ymd(da)?;
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// A DICOM TM value as `hh:mm:ss[.f…]` (missing minutes and seconds are zero; the fraction
/// keeps the digits it has).
fn time(tm: &str) -> Option<String> {
    let full = dicom::time(tm, Bound::Lower)?;
    let cleaned: String = tm.trim().chars().filter(|c| *c != ':').collect();
    let fraction = cleaned.split_once('.').map(|(_, f)| f).unwrap_or("");
    let mut out = format!("{}:{}:{}", &full[0..2], &full[2..4], &full[4..6]);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

/// A TimezoneOffsetFromUTC value (`+HHMM` / `-HHMM`) as a FHIR zone (`+hh:mm`), within
/// FHIR's range (-14:00..+14:00).
pub fn zone(offset: &str) -> Option<String> {
    let offset = offset.trim();
    let (sign, rest) = offset.split_at(offset.get(..1).map(|_| 1)?);
    if !matches!(sign, "+" | "-") || rest.len() != 4 || !rest.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: u32 = rest[0..2].parse().ok()?;
    let minutes: u32 = rest[2..4].parse().ok()?;
    if minutes > 59 || hours > 14 || (hours == 14 && minutes > 0) {
        return None;
    }
    Some(format!("{sign}{hours:02}:{minutes:02}"))
}

/// A FHIR `dateTime` from a DICOM date, time and offset: the full date-time when all three
/// are valid, else the date alone; `None` without a valid date.
pub fn date_time(da: Option<&str>, tm: Option<&str>, offset: Option<&str>) -> Option<String> {
    let day = date(da?)?;
    match (tm.and_then(time), offset.and_then(zone)) {
        (Some(time), Some(zone)) => Some(format!("{day}T{time}{zone}")),
        _ => Some(day),
    }
}

/// Microseconds since the Unix epoch as a FHIR `instant` in UTC, to the millisecond.
pub fn instant(micros: i64) -> String {
    crate::time::rfc3339_millis(micros)
}

/// The first and last day (`YYYYMMDD`) of a FHIR search date `YYYY`, `YYYY-MM` or
/// `YYYY-MM-DD`; `None` for anything else (times are not accepted).
pub fn search_period(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.split('-').collect();
    let number = |s: &str, len: usize| {
        (s.len() == len && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let year = number(parts.first()?, 4).filter(|y| *y >= 1)?;
    let (first, last) = match parts.len() {
        1 => ((1, 1), (12, 31)),
        2 => {
            let month = number(parts[1], 2).filter(|m| (1..=12).contains(m))?;
            ((month, 1), (month, days_in_month(year, month)))
        }
        3 => {
            let month = number(parts[1], 2).filter(|m| (1..=12).contains(m))?;
            let day =
                number(parts[2], 2).filter(|d| (1..=days_in_month(year, month)).contains(d))?;
            ((month, day), (month, day))
        }
        _ => return None,
    };
    Some((
        format!("{year:04}{:02}{:02}", first.0, first.1),
        format!("{year:04}{:02}{:02}", last.0, last.1),
    ))
}

/// The day after (`+1`) or before (`-1`) a `YYYYMMDD` date.
pub fn next_day(yyyymmdd: &str, step: i32) -> String {
    let (mut y, mut m, mut d) = ymd(yyyymmdd).unwrap_or((1, 1, 1));
    if step > 0 {
        if d < days_in_month(y, m) {
            d += 1;
        } else if m < 12 {
            m += 1;
            d = 1;
        } else {
            y += 1;
            m = 1;
            d = 1;
        }
    } else if d > 1 {
        d -= 1;
    } else if m > 1 {
        m -= 1;
        d = days_in_month(y, m);
    } else {
        y = y.saturating_sub(1);
        m = 12;
        d = 31;
    }
    format!("{y:04}{m:02}{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_needs_an_offset_for_its_time() {
        assert_eq!(
            date_time(Some("20200115"), Some("101530.123"), Some("+0100")).as_deref(),
            Some("2020-01-15T10:15:30.123+01:00")
        );
        assert_eq!(
            date_time(Some("20200115"), Some("10"), Some("-0500")).as_deref(),
            Some("2020-01-15T10:00:00-05:00")
        );
        assert_eq!(
            date_time(Some("20200115"), Some("10:15"), Some("+0000")).as_deref(),
            Some("2020-01-15T10:15:00+00:00")
        );
        assert_eq!(
            date_time(Some("20200115"), Some("101530"), None).as_deref(),
            Some("2020-01-15")
        );
        assert_eq!(
            date_time(Some("20200115"), Some("101530"), Some("+1500")).as_deref(),
            Some("2020-01-15")
        );
        assert_eq!(date_time(Some("20200230"), Some("10"), Some("+0100")), None);
        assert_eq!(date_time(None, Some("10"), Some("+0100")), None);
        assert_eq!(date("20240229").as_deref(), Some("2024-02-29"));
        assert_eq!(date("20230229"), None);
    }

    #[test]
    fn instants_and_search_periods() {
        assert_eq!(instant(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(instant(1_709_208_000_123_456), "2024-02-29T12:00:00.123Z");
        assert_eq!(
            search_period("2020"),
            Some(("20200101".into(), "20201231".into()))
        );
        assert_eq!(
            search_period("2024-02"),
            Some(("20240201".into(), "20240229".into()))
        );
        assert_eq!(
            search_period("2024-02-10"),
            Some(("20240210".into(), "20240210".into()))
        );
        assert_eq!(search_period("2024-02-30"), None);
        assert_eq!(search_period("2024-02-10T10:00:00Z"), None);
        assert_eq!(search_period("20240210"), None);
        assert_eq!(next_day("20201231", 1), "20210101");
        assert_eq!(next_day("20240301", -1), "20240229");
        assert_eq!(next_day("20200101", -1), "20191231");
    }
}
