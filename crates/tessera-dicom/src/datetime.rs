//! DA, TM and DT values normalised for comparison (PS3.5 6.2), so range matching
//! (PS3.4 C.2.2.2.5) is a plain string comparison in the index:
//! dates `YYYYMMDD`, times `HHMMSS.FFFFFF`, date-times `YYYYMMDDHHMMSS.FFFFFF`.
//! Lower bounds pad missing digits with the earliest value, upper bounds with the latest.

/// Which end of a range a partial value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Lower,
    Upper,
}

fn digits(value: &str, strip: &[char]) -> Option<String> {
    let cleaned: String = value
        .trim()
        .chars()
        .filter(|c| !strip.contains(c))
        .collect();
    cleaned
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        .then_some(cleaned)
}

/// `YYYYMMDD` (also the old `YYYY.MM.DD`). Partial dates are not valid DA.
pub fn date(value: &str) -> Option<String> {
    let d = digits(value, &['.', '-'])?;
    let month: u32 = d.get(4..6)?.parse().ok()?;
    let day: u32 = d.get(6..8)?.parse().ok()?;
    (d.len() == 8 && (1..=12).contains(&month) && (1..=31).contains(&day)).then_some(d)
}

/// `HHMMSS.FFFFFF` from `HH`, `HHMM`, `HHMMSS`, `HHMMSS.F…` (also with colons).
pub fn time(value: &str, bound: Bound) -> Option<String> {
    let t = digits(value, &[':'])?;
    let (whole, fraction) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() || whole.len() % 2 != 0 || whole.len() > 6 || fraction.len() > 6 {
        return None;
    }
    if !fraction.is_empty() && whole.len() != 6 || fraction.contains('.') {
        return None;
    }
    let limits = [23u32, 59, 60];
    for (i, pair) in whole.as_bytes().chunks(2).enumerate() {
        let n: u32 = std::str::from_utf8(pair).ok()?.parse().ok()?;
        if n > limits[i] {
            return None;
        }
    }
    let (pad_whole, pad_fraction) = match bound {
        Bound::Lower => ("000000", '0'),
        Bound::Upper => ("235959", '9'),
    };
    let mut out = whole.to_string();
    out.push_str(&pad_whole[whole.len()..]);
    out.push('.');
    out.push_str(fraction);
    while out.len() < 13 {
        out.push(pad_fraction);
    }
    Some(out)
}

/// `YYYYMMDDHHMMSS.FFFFFF` from a DT value (`YYYY` up to full precision; an offset
/// `&ZZXX` or `+ZZXX` suffix is ignored).
pub fn date_time(value: &str, bound: Bound) -> Option<String> {
    let value = value.trim();
    let value = match value.find(['+', '-']) {
        Some(at) if at >= 4 => &value[..at],
        _ => value,
    };
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if !whole.chars().all(|c| c.is_ascii_digit()) || whole.len() < 4 || whole.len() % 2 != 0 {
        return None;
    }
    let (date_part, time_part) = whole.split_at(whole.len().min(8));
    let date = match (date_part.len(), bound) {
        (4, Bound::Lower) => format!("{date_part}0101"),
        (4, Bound::Upper) => format!("{date_part}1231"),
        (6, Bound::Lower) => format!("{date_part}01"),
        (6, Bound::Upper) => format!("{date_part}31"),
        (8, _) => date_part.to_string(),
        _ => return None,
    };
    let time = if time_part.is_empty() {
        time(if bound == Bound::Lower { "00" } else { "23" }, bound)?
    } else if fraction.is_empty() {
        time(time_part, bound)?
    } else {
        time(&format!("{time_part}.{fraction}"), bound)?
    };
    Some(format!("{date}{time}"))
}

/// A stored StudyDate + StudyTime as one sortable date-time (missing time: midnight).
pub fn combine(date_value: Option<&str>, time_value: Option<&str>) -> Option<String> {
    let date = date(date_value?)?;
    let time = time_value
        .and_then(|t| time(t, Bound::Lower))
        .unwrap_or_else(|| "000000.000000".into());
    Some(format!("{date}{time}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("20200131").as_deref(), Some("20200131"));
        assert_eq!(date("2020.01.31").as_deref(), Some("20200131"));
        assert_eq!(date("20201345"), None);
        assert_eq!(date("2020"), None);
        assert_eq!(date("abc"), None);
    }

    #[test]
    fn times_pad_by_bound() {
        assert_eq!(time("0930", Bound::Lower).as_deref(), Some("093000.000000"));
        assert_eq!(time("0930", Bound::Upper).as_deref(), Some("093059.999999"));
        assert_eq!(time("09", Bound::Upper).as_deref(), Some("095959.999999"));
        assert_eq!(
            time("093015.5", Bound::Lower).as_deref(),
            Some("093015.500000")
        );
        assert_eq!(
            time("09:30:15", Bound::Lower).as_deref(),
            Some("093015.000000")
        );
        assert_eq!(time("2500", Bound::Lower), None);
        assert_eq!(time("093", Bound::Lower), None);
    }

    #[test]
    fn date_times() {
        assert_eq!(
            date_time("2020", Bound::Lower).as_deref(),
            Some("20200101000000.000000")
        );
        assert_eq!(
            date_time("2020", Bound::Upper).as_deref(),
            Some("20201231235959.999999")
        );
        assert_eq!(
            date_time("20200105103000+0100", Bound::Lower).as_deref(),
            Some("20200105103000.000000")
        );
        assert_eq!(
            combine(Some("20200105"), Some("1030")).as_deref(),
            Some("20200105103000.000000")
        );
        assert_eq!(
            combine(Some("20200105"), None).as_deref(),
            Some("20200105000000.000000")
        );
    }
}
