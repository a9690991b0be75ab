//! WADO-RS Accept negotiation (PS3.18 8.7.3): several media ranges with q values, the
//! `multipart/related; type=...` form, a `transfer-syntax` parameter (`*` = as stored), and
//! the `accept` query parameter, which takes precedence over the header.

use axum::http::{header, HeaderMap};

use super::media::{accept_ranges, MediaType};

/// One acceptable representation, in the client's order of preference.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The media type of the payload (for multipart: its `type`), lower case; `*/*` for any.
    pub media: String,
    /// Whether the client asked for a multipart/related wrapper (`Some(false)`: explicitly
    /// single part; `None`: it did not say, e.g. `*/*`).
    pub multipart: Option<bool>,
    /// `transfer-syntax` parameter: a UID, `*`, or none (the media type's default).
    pub transfer_syntax: Option<String>,
}

impl Wanted {
    /// Whether this range accepts the payload media type `media`.
    pub fn accepts(&self, media: &str) -> bool {
        if self.media == "*/*" || self.media == media {
            return true;
        }
        match self.media.split_once('/') {
            Some((kind, "*")) => media.split_once('/').is_some_and(|(k, _)| k == kind),
            _ => false,
        }
    }
}

fn wanted(range: &MediaType) -> Wanted {
    let transfer_syntax = range
        .param("transfer-syntax")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if range.essence == "multipart/related" {
        let media = range
            .param("type")
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "*/*".into());
        Wanted {
            media,
            multipart: Some(true),
            transfer_syntax,
        }
    } else {
        Wanted {
            multipart: (range.essence != "*/*").then_some(false),
            media: range.essence.clone(),
            transfer_syntax,
        }
    }
}

/// The acceptable representations of a request, most preferred first. No Accept at all
/// means anything (`*/*`).
pub fn wanted_from(headers: &HeaderMap, query_accept: Option<&str>) -> Vec<Wanted> {
    let raw = query_accept
        .map(str::to_string)
        .or_else(|| {
            headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "*/*".into());
    let ranges = accept_ranges(&raw);
    if ranges.is_empty() {
        return vec![Wanted {
            media: "*/*".into(),
            multipart: None,
            transfer_syntax: None,
        }];
    }
    ranges.iter().map(wanted).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(accept: &str) -> Vec<Wanted> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.parse().unwrap());
        wanted_from(&headers, None)
    }

    #[test]
    fn multipart_with_type_and_transfer_syntax() {
        let w = from("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*");
        assert_eq!(w[0].media, "application/octet-stream");
        assert_eq!(w[0].multipart, Some(true));
        assert_eq!(w[0].transfer_syntax.as_deref(), Some("*"));
        let w = from("multipart/related; type=application/dicom, */*;q=0.1");
        assert_eq!(w[0].media, "application/dicom");
        assert_eq!(w[1].media, "*/*");
        assert!(w[1].accepts("image/jpeg"));
    }

    #[test]
    fn quality_orders_and_query_parameter_wins() {
        let w = from("image/png;q=0.5, image/jpeg");
        assert_eq!(w[0].media, "image/jpeg");
        assert_eq!(w[0].multipart, Some(false));
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, "image/png".parse().unwrap());
        let w = wanted_from(&headers, Some("image/jpeg"));
        assert_eq!(w[0].media, "image/jpeg");
        assert!(Wanted {
            media: "image/*".into(),
            multipart: None,
            transfer_syntax: None
        }
        .accepts("image/png"));
    }
}

#[cfg(test)]
mod proptests;
