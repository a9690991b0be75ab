//! gzip for text answers only (PS3.18 8.4.3 allows any HTTP content coding): DICOM JSON and
//! XML shrink five- to tenfold, while DICOM instances and bulk data are binary, often already
//! compressed, and must stream with their exact lengths (Range requests count their bytes).

use axum::http::{header, Extensions, HeaderMap, StatusCode, Version};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;

use super::media::MediaType;

/// Whether a response of this Content-Type is text worth compressing.
pub fn compressible(content_type: &str) -> bool {
    let Some(media) = MediaType::parse(content_type) else {
        return false;
    };
    match media.essence.as_str() {
        "application/dicom+json" | "application/json" | "application/dicom+xml" => true,
        "multipart/related" => media
            .param("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("application/dicom+xml")),
        _ => false,
    }
}

fn text_response(_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(compressible)
}

/// The layer: gzip when the client accepts it, the answer is DICOM JSON or XML and not tiny.
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .compress_when(SizeAbove::new(256).and(text_response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_and_xml() {
        assert!(compressible("application/dicom+json"));
        assert!(compressible("application/json; charset=utf-8"));
        assert!(compressible(
            "multipart/related; type=\"application/dicom+xml\"; boundary=x"
        ));
        assert!(!compressible(
            "multipart/related; type=\"application/dicom\"; boundary=x"
        ));
        assert!(!compressible("application/dicom"));
        assert!(!compressible("application/octet-stream"));
        assert!(!compressible(
            "multipart/related; type=application/octet-stream"
        ));
    }
}
