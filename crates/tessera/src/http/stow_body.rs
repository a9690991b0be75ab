//! The body of a STOW-RS request (PS3.18 10.5.1.1) read as parts: its Content-Type
//! (`multipart/related; type="application/dicom"`, or a single `application/dicom`), the
//! multipart reader with the request's size and part limits, and which parts are DICOM.
//! What each part becomes is the handler's business (`stow.rs`).

use std::error::Error as StdError;

use axum::http::header;
use bytes::Bytes;
use futures::Stream;

use super::error::ApiError;
use super::media::MediaType;

/// How the body holds its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    Multipart { boundary: String },
    Single,
}

/// The body's kind from its Content-Type header.
pub fn body_kind(content_type: Option<&str>) -> Result<BodyKind, ApiError> {
    let raw = content_type.ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "Content-Type must be multipart/related; type=\"application/dicom\" or application/dicom"
                .into(),
        )
    })?;
    let media = MediaType::parse(raw).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!("unparseable Content-Type {raw:?}"))
    })?;
    match media.essence.as_str() {
        "multipart/related" => {
            if let Some(kind) = media.param("type") {
                if !kind.eq_ignore_ascii_case("application/dicom") {
                    return Err(ApiError::UnsupportedMediaType(format!(
                        "multipart/related type {kind:?} is not supported; use application/dicom"
                    )));
                }
            }
            let boundary = media
                .param("boundary")
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    ApiError::BadRequest("multipart/related without a boundary parameter".into())
                })?;
            Ok(BodyKind::Multipart {
                boundary: boundary.to_string(),
            })
        }
        "application/dicom" => Ok(BodyKind::Single),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {other} is not supported; use multipart/related; type=\"application/dicom\""
        ))),
    }
}

/// What one multipart body may hold.
#[derive(Debug, Clone, Copy)]
pub struct PartLimits {
    /// The whole body, in bytes.
    pub request_bytes: u64,
    /// One part, in bytes.
    pub part_bytes: u64,
    /// Parts in the body.
    pub parts: usize,
}

/// The parts of a multipart/related body, one at a time, within [`PartLimits`].
pub struct Parts {
    multipart: multer::Multipart<'static>,
    limits: PartLimits,
    seen: usize,
}

impl Parts {
    pub fn new<S, E>(body: S, boundary: String, limits: PartLimits) -> Parts
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>> + 'static,
    {
        let sizes = multer::SizeLimit::new()
            .whole_stream(limits.request_bytes)
            .per_field(limits.part_bytes);
        let constraints = multer::Constraints::new().size_limit(sizes);
        Parts {
            multipart: multer::Multipart::with_constraints(body, boundary, constraints),
            limits,
            seen: 0,
        }
    }

    /// The next part, or `None` after the last. A part beyond the limit is an error
    /// ([`ApiError::TooManyParts`]) before any of its bytes are read.
    pub async fn next(&mut self) -> Result<Option<Part>, ApiError> {
        let Some(field) = self.multipart.next_field().await.map_err(multipart_error)? else {
            return Ok(None);
        };
        self.seen += 1;
        if self.seen > self.limits.parts {
            return Err(ApiError::TooManyParts {
                limit: self.limits.parts,
            });
        }
        let part_type = field
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|raw| MediaType::parse(raw).map(|m| m.essence));
        Ok(Some(Part {
            is_dicom: part_is_dicom(&part_type),
            field,
        }))
    }
}

/// One part being read.
pub struct Part {
    field: multer::Field<'static>,
    /// Whether its Content-Type is application/dicom (or absent, as the request's `type`
    /// says).
    pub is_dicom: bool,
}

impl Part {
    /// The next piece of the part's bytes, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        self.field.chunk().await.map_err(multipart_error)
    }
}

fn part_is_dicom(part_type: &Option<Option<String>>) -> bool {
    match part_type {
        None => true,
        Some(Some(essence)) => essence == "application/dicom",
        Some(None) => false,
    }
}

fn multipart_error(err: multer::Error) -> ApiError {
    match err {
        multer::Error::FieldSizeExceeded { limit, .. } => ApiError::PayloadTooLarge(format!(
            "an instance is larger than the maximum of {limit} bytes"
        )),
        multer::Error::StreamSizeExceeded { limit } => ApiError::PayloadTooLarge(format!(
            "the request is larger than the maximum of {limit} bytes"
        )),
        multer::Error::StreamReadFailed(err) => {
            ApiError::body_read(err.as_ref(), "reading the body failed")
        }
        other => ApiError::BadRequest(format!("malformed multipart/related body: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..parts {
            out.extend_from_slice(
                format!("--b\r\nContent-Type: application/dicom\r\n\r\npart {i}\r\n").as_bytes(),
            );
        }
        out.extend_from_slice(b"--b--\r\n");
        out
    }

    async fn read(parts: usize, limit: usize) -> Result<Vec<String>, ApiError> {
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body(parts)))]);
        let limits = PartLimits {
            request_bytes: 1 << 20,
            part_bytes: 1 << 10,
            parts: limit,
        };
        let mut reader = Parts::new(stream, "b".into(), limits);
        let mut out = Vec::new();
        while let Some(mut part) = reader.next().await? {
            let mut text = Vec::new();
            while let Some(chunk) = part.chunk().await? {
                text.extend_from_slice(&chunk);
            }
            out.push(String::from_utf8(text).unwrap());
        }
        Ok(out)
    }

    #[tokio::test]
    async fn parts_up_to_the_limit_are_read_and_one_more_is_refused() {
        assert_eq!(read(3, 3).await.unwrap(), ["part 0", "part 1", "part 2"]);
        let err = read(4, 3).await.unwrap_err();
        assert!(
            matches!(err, ApiError::TooManyParts { limit: 3 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("more than 3 parts"), "{err}");
        assert!(err
            .to_string()
            .contains("none of its instances were stored"));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            body_kind(Some(
                "multipart/related; type=\"application/dicom\"; boundary=\"a\\\\b\""
            ))
            .unwrap(),
            BodyKind::Multipart {
                boundary: "a\\b".into()
            }
        );
        assert_eq!(
            body_kind(Some("application/dicom")).unwrap(),
            BodyKind::Single
        );
        assert!(body_kind(None).is_err());
        assert!(body_kind(Some("multipart/related; type=application/dicom")).is_err());
        assert!(body_kind(Some("text/plain")).is_err());
    }
}
