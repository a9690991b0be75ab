//! Media type parsing for Content-Type and Accept (RFC 9110 8.3.1, 12.5.1): parameters may be
//! quoted or not, names are case-insensitive, values keep their case.

/// A parsed media type such as `multipart/related; type="application/dicom"; boundary=x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower case.
    pub essence: String,
    /// Parameters in order; names lower case, values unquoted.
    pub params: Vec<(String, String)>,
}

impl MediaType {
    pub fn parse(raw: &str) -> Option<MediaType> {
        let mut parts = split_outside_quotes(raw, ';').into_iter();
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let (kind, subtype) = essence.split_once('/')?;
        if kind.is_empty() || subtype.is_empty() || essence.contains(char::is_whitespace) {
            return None;
        }
        let params = parts
            .filter_map(|p| {
                let (name, value) = p.split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                Some((
                    name.trim().to_ascii_lowercase(),
                    value.replace("\\\"", "\""),
                ))
            })
            .collect();
        Some(MediaType { essence, params })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Split on `sep` where it is not inside double quotes.
pub fn split_outside_quotes(raw: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        match c {
            '\\' if quoted && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&raw[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
        escaped = false;
    }
    out.push(&raw[start..]);
    out
}

/// The media ranges of an Accept header, in order of preference (q, then position).
pub fn accept_ranges(raw: &str) -> Vec<MediaType> {
    let mut ranges: Vec<(f32, usize, MediaType)> = split_outside_quotes(raw, ',')
        .into_iter()
        .enumerate()
        .filter_map(|(i, part)| {
            let media = MediaType::parse(part)?;
            let q = media
                .param("q")
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, i, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_unquoted_parameters() {
        let m = MediaType::parse("Multipart/Related; type=\"application/dicom\"; boundary=abc")
            .unwrap();
        assert_eq!(m.essence, "multipart/related");
        assert_eq!(m.param("type"), Some("application/dicom"));
        assert_eq!(m.param("boundary"), Some("abc"));
        let m =
            MediaType::parse("multipart/related;type=application/dicom;boundary=\"a;b\"").unwrap();
        assert_eq!(m.param("boundary"), Some("a;b"));
        assert!(MediaType::parse("garbage").is_none());
    }

    #[test]
    fn accept_orders_by_quality() {
        let ranges = accept_ranges("application/dicom+json;q=0.5, application/dicom+xml, */*;q=0");
        let names: Vec<_> = ranges.iter().map(|m| m.essence.as_str()).collect();
        assert_eq!(names, ["application/dicom+xml", "application/dicom+json"]);
    }
}

#[cfg(test)]
mod proptests;
