//! Retain Longitudinal Temporal Information with Modified Dates (PS3.15 E.3.6): every date of
//! a patient is moved by the same number of days, derived from the keyed hash of the patient,
//! so intervals between a patient's studies survive (in every run with the same secret) while
//! the calendar dates do not. Times of day are kept: a whole-day shift leaves them valid.
//! DT values keep their time and UTC offset; partial values (`YYYY`, `YYYYMM`) are shifted
//! from the first day of their period and keep their precision.

use super::key::Secret;
use super::pseudonym::PatientKey;

const DOMAIN: &str = "tessera-deid-date-offset";
/// Offsets lie between this many days and about ten years in the past.
const MIN_SHIFT_DAYS: u64 = 366;
const SHIFT_SPAN_DAYS: u64 = 3287;

/// The patient's offset in days (negative: dates move into the past).
pub fn offset_days(secret: &Secret, patient: &PatientKey) -> i32 {
    let mac = secret.mac(DOMAIN, patient.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&mac[..8]);
    let days = MIN_SHIFT_DAYS + u64::from_be_bytes(head) % SHIFT_SPAN_DAYS;
    -(days as i32)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    (next - days_from_civil(year, month, 1)) as u32
}

/// Shift `YYYY`, `YYYYMM` or `YYYYMMDD` (digits only); `None` if it is not such a date.
fn shift_digits(date: &str, days: i32) -> Option<String> {
    if !date.bytes().all(|b| b.is_ascii_digit()) || ![4, 6, 8].contains(&date.len()) {
        return None;
    }
    let year: i64 = date[..4].parse().ok()?;
    let month: u32 = date.get(4..6).map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = date.get(6..8).map_or(Some(1), |d| d.parse().ok())?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (y, m, d) = civil_from_days(days_from_civil(year, month, day) + i64::from(days));
    if !(0..=9999).contains(&y) {
        return None;
    }
    let full = format!("{y:04}{m:02}{d:02}");
    Some(full[..date.len()].to_string())
}

/// Shift one DA value (also the old `YYYY.MM.DD` and a range `A-B`).
pub fn shift_date(value: &str, days: i32) -> Option<String> {
    let value = value.trim_matches(|c: char| c == ' ' || c == '\0');
    if value.is_empty() {
        return Some(String::new());
    }
    if let Some((a, b)) = value.split_once('-') {
        let shift = |v: &str| {
            if v.is_empty() {
                Some(String::new())
            } else {
                shift_date(v, days)
            }
        };
        return Some(format!("{}-{}", shift(a)?, shift(b)?));
    }
    let digits: String = value.chars().filter(|c| *c != '.').collect();
    if digits.len() != 8 {
        return None;
    }
    shift_digits(&digits, days)
}

/// Shift one DT value: the date part moves, the time and UTC offset stay.
pub fn shift_datetime(value: &str, days: i32) -> Option<String> {
    let value = value.trim_matches(|c: char| c == ' ' || c == '\0');
    if value.is_empty() {
        return Some(String::new());
    }
    let date_len = value
        .bytes()
        .take(8)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if value.len() > date_len && date_len != 8 {
        return None;
    }
    let shifted = shift_digits(&value[..date_len], days)?;
    Some(format!("{shifted}{}", &value[date_len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (1900, 3, 1),
            (2024, 12, 31),
            (1, 1, 1),
        ] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 2), 1);
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }

    #[test]
    fn dates_shift_across_months_years_and_leap_days() {
        assert_eq!(shift_date("20240301", -1).as_deref(), Some("20240229"));
        assert_eq!(shift_date("20230101", -1).as_deref(), Some("20221231"));
        assert_eq!(shift_date("2023.01.10", -10).as_deref(), Some("20221231"));
        assert_eq!(
            shift_date("20230101-20230201", -1).as_deref(),
            Some("20221231-20230131")
        );
        assert_eq!(shift_date("", -5).as_deref(), Some(""));
        assert_eq!(shift_date("20231340", -1), None);
        assert_eq!(shift_date("2023", -1), None);
        assert_eq!(shift_date("garbage!", -1), None);
    }

    #[test]
    fn datetimes_keep_their_time_offset_and_precision() {
        assert_eq!(
            shift_datetime("20240301120000.123456+0100", -1).as_deref(),
            Some("20240229120000.123456+0100")
        );
        assert_eq!(shift_datetime("202403", -1).as_deref(), Some("202402"));
        assert_eq!(shift_datetime("2024", -1).as_deref(), Some("2023"));
        assert_eq!(shift_datetime("2024031", -1), None);
        assert_eq!(shift_datetime("20241", -1), None);
    }

    #[test]
    fn the_offset_is_per_patient_and_in_range() {
        let secret = Secret::new(vec![5; 16]).unwrap();
        let a = PatientKey::new(Some("A"), None);
        let b = PatientKey::new(Some("B"), None);
        let off = offset_days(&secret, &a);
        assert_eq!(off, offset_days(&secret, &a));
        assert!((-3652..=-366).contains(&off), "{off}");
        let distinct: std::collections::HashSet<i32> = (0..50)
            .map(|i| offset_days(&secret, &PatientKey::new(Some(&i.to_string()), None)))
            .collect();
        assert!(distinct.len() > 40);
        let _ = offset_days(&secret, &b);
    }
}
