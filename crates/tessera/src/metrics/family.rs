//! Route families: which part of the API a request went to (the `family` label of the HTTP
//! metrics), told from its method and path alone.

/// Which part of the API a request went to (the `family` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteFamily {
    Stow,
    Qido,
    Retrieve,
    Metadata,
    Bulkdata,
    Frames,
    Rendered,
    Thumbnail,
    Delete,
    ChangeFeed,
    Fhir,
    Health,
    Metrics,
    Other,
}

impl RouteFamily {
    pub(super) const ALL: [RouteFamily; 14] = [
        RouteFamily::Stow,
        RouteFamily::Qido,
        RouteFamily::Retrieve,
        RouteFamily::Metadata,
        RouteFamily::Bulkdata,
        RouteFamily::Frames,
        RouteFamily::Rendered,
        RouteFamily::Thumbnail,
        RouteFamily::Delete,
        RouteFamily::ChangeFeed,
        RouteFamily::Fhir,
        RouteFamily::Health,
        RouteFamily::Metrics,
        RouteFamily::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RouteFamily::Stow => "stow",
            RouteFamily::Qido => "qido",
            RouteFamily::Retrieve => "retrieve",
            RouteFamily::Metadata => "metadata",
            RouteFamily::Bulkdata => "bulkdata",
            RouteFamily::Frames => "frames",
            RouteFamily::Rendered => "rendered",
            RouteFamily::Thumbnail => "thumbnail",
            RouteFamily::Delete => "delete",
            RouteFamily::ChangeFeed => "changefeed",
            RouteFamily::Fhir => "fhir",
            RouteFamily::Health => "health",
            RouteFamily::Metrics => "metrics",
            RouteFamily::Other => "other",
        }
    }

    /// Classify a request by method and path (no routing table needed: the DICOMweb paths
    /// say what they are by their last segments).
    pub fn classify(method: &str, path: &str) -> RouteFamily {
        let path = path.trim_end_matches('/');
        if path == "/healthz" {
            return RouteFamily::Health;
        }
        if path == "/metrics" {
            return RouteFamily::Metrics;
        }
        if path == "/fhir" || path.starts_with("/fhir/") {
            return RouteFamily::Fhir;
        }
        let Some(rest) = path.strip_prefix("/dicom-web") else {
            return RouteFamily::Other;
        };
        // A partition's routes are the plain ones under `/partitions/{name}`.
        let rest = match rest.strip_prefix("/partitions/") {
            Some(inner) => inner.find('/').map_or("", |slash| &inner[slash..]),
            None => rest,
        };
        if method == "POST" {
            return RouteFamily::Stow;
        }
        if method == "DELETE" {
            return RouteFamily::Delete;
        }
        if rest == "/changefeed" || rest.starts_with("/changefeed/") {
            return RouteFamily::ChangeFeed;
        }
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let last = segments.last().copied().unwrap_or_default();
        let before_last = segments
            .len()
            .checked_sub(2)
            .and_then(|i| segments.get(i))
            .copied();
        match last {
            "rendered" => RouteFamily::Rendered,
            "thumbnail" => RouteFamily::Thumbnail,
            "metadata" => RouteFamily::Metadata,
            "studies" | "series" | "instances" => RouteFamily::Qido,
            _ if before_last == Some("frames") => RouteFamily::Frames,
            _ if segments.contains(&"bulkdata") => RouteFamily::Bulkdata,
            _ if segments.first() == Some(&"studies") => RouteFamily::Retrieve,
            _ => RouteFamily::Other,
        }
    }

    pub(super) fn index(self) -> usize {
        RouteFamily::ALL
            .iter()
            .position(|f| *f == self)
            .unwrap_or(RouteFamily::ALL.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_dicomweb_paths() {
        let s = "/dicom-web/studies/1.2/series/3.4/instances/5.6";
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/frames/1,2")),
            RouteFamily::Frames
        );
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/frames/1/rendered")),
            RouteFamily::Rendered
        );
        assert_eq!(
            RouteFamily::classify("GET", "/dicom-web/studies/1.2/thumbnail"),
            RouteFamily::Thumbnail
        );
        assert_eq!(
            RouteFamily::classify("GET", "/dicom-web/studies"),
            RouteFamily::Qido
        );
        assert_eq!(
            RouteFamily::classify("POST", "/dicom-web/studies"),
            RouteFamily::Stow
        );
        assert_eq!(RouteFamily::classify("GET", s), RouteFamily::Retrieve);
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/metadata")),
            RouteFamily::Metadata
        );
        assert_eq!(
            RouteFamily::classify("GET", &format!("{s}/bulkdata/7FE00010")),
            RouteFamily::Bulkdata
        );
        assert_eq!(
            RouteFamily::classify("GET", "/healthz"),
            RouteFamily::Health
        );
        assert_eq!(RouteFamily::classify("GET", "/x"), RouteFamily::Other);
        // A partition's routes count as the plain ones.
        let p = "/dicom-web/partitions/a";
        assert_eq!(
            RouteFamily::classify("GET", &format!("{p}/studies/1.2")),
            RouteFamily::Retrieve
        );
        assert_eq!(
            RouteFamily::classify("GET", &format!("{p}{}/frames/1", &s[10..])),
            RouteFamily::Frames
        );
        assert_eq!(
            RouteFamily::classify("POST", &format!("{p}/studies")),
            RouteFamily::Stow
        );
        assert_eq!(
            RouteFamily::classify("GET", &format!("{p}/changefeed")),
            RouteFamily::ChangeFeed
        );
    }
}
