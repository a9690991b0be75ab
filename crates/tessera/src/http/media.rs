//! Media type parsing for Content-Type and Accept (RFC 9110 8.3.1, 12.5.1): parameters may be
//! quoted or not (a quoted value unescaped: RFC 9110 5.6.4), names are case-insensitive,
//! values keep their case.

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
                Some((name.trim().to_ascii_lowercase(), unquote(value.trim())))
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

/// A parameter value as meant: a quoted-string (RFC 9110 5.6.4) without its quotes, each
/// quoted-pair (`\` and any character) as that character; anything else as written, and so
/// is a quoted-string that does not end where the value does.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => break,
            },
            '"' if at + 1 == inner.len() => return out,
            '"' => break,
            c => out.push(c),
        }
    }
    value.to_string()
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

    /// RFC 9110 5.6.4: in a quoted-string, `\` followed by any character is that character,
    /// not only before a quote.
    #[test]
    fn quoted_pairs_unescape_any_character() {
        let m = MediaType::parse(r#"multipart/related; boundary="a\b\c\"d\;e""#).unwrap();
        assert_eq!(m.param("boundary"), Some(r#"abc"d;e"#));
        let m = MediaType::parse(r#"text/plain; x="\a\\""#).unwrap();
        assert_eq!(m.param("x"), Some("a\\"));
        // Not a whole quoted-string: as written.
        let m = MediaType::parse(r#"text/plain; x="abc\""#).unwrap();
        assert_eq!(m.param("x"), Some(r#""abc\""#));
        let m = MediaType::parse(r#"text/plain; y="a"b"#).unwrap();
        assert_eq!(m.param("y"), Some(r#""a"b"#));
        let m = MediaType::parse(r#"text/plain; x=a\b"#).unwrap();
        assert_eq!(m.param("x"), Some(r#"a\b"#));
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
