//! Which representation of a frame answers which media range (PS3.18 8.7.3.3.2, Table
//! 8.7.3-5 and 8.7.3-6 "Default transfer syntaxes" for pixel data).
//!
//! A frame can be served in two ways: as stored (native bytes, or the bitstream of an
//! encapsulated syntax: nothing decoded), or decoded to native little endian. Nothing is
//! transcoded into a compressed syntax: an image media type whose transfer syntax is not
//! the stored one is not acceptable.

use dicom_dictionary_std::uids;

pub const OCTET_STREAM: &str = "application/octet-stream";

/// Image media types with their transfer syntaxes, the default first.
const IMAGE_TYPES: [(&str, &[&str]); 7] = [
    (
        "image/jpeg",
        &[
            uids::JPEG_LOSSLESS_SV1,
            uids::JPEG_BASELINE8_BIT,
            uids::JPEG_EXTENDED12_BIT,
            uids::JPEG_LOSSLESS,
        ],
    ),
    (
        "image/jls",
        &[uids::JPEGLS_LOSSLESS, uids::JPEGLS_NEAR_LOSSLESS],
    ),
    ("image/jp2", &[uids::JPEG2000_LOSSLESS, uids::JPEG2000]),
    ("image/jpx", &[uids::JPEG2000MC_LOSSLESS, uids::JPEG2000MC]),
    ("image/dicom-rle", &[uids::RLE_LOSSLESS]),
    (
        "image/jphc",
        &[uids::HTJ2K_LOSSLESS, uids::HTJ2K_LOSSLESS_RPCL, uids::HTJ2K],
    ),
    (
        "image/jxl",
        &[
            uids::JPEGXL_LOSSLESS,
            uids::JPEGXLJPEG_RECOMPRESSION,
            uids::JPEGXL,
        ],
    ),
];

/// Whether frames stored in this syntax are native (uncompressed) bytes.
pub fn is_native(transfer_syntax: &str) -> bool {
    matches!(
        transfer_syntax,
        uids::IMPLICIT_VR_LITTLE_ENDIAN
            | uids::EXPLICIT_VR_LITTLE_ENDIAN
            | tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN
            | uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
            | uids::ENCAPSULATED_UNCOMPRESSED_EXPLICIT_VR_LITTLE_ENDIAN
    )
}

/// The image media type whose transfer syntaxes include this one.
pub fn image_type_of(transfer_syntax: &str) -> Option<&'static str> {
    IMAGE_TYPES
        .iter()
        .find(|(_, syntaxes)| syntaxes.contains(&transfer_syntax))
        .map(|(media, _)| *media)
}

/// Where the bytes of a chosen representation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The frame's stored bytes, untouched.
    Stored,
    /// Decoded (or byte-swapped) to native little endian.
    Native,
}

/// A representation to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub media: &'static str,
    pub transfer_syntax: String,
    pub source: Source,
}

impl Choice {
    /// The Content-Type of one frame.
    pub fn content_type(&self) -> String {
        format!("{}; transfer-syntax={}", self.media, self.transfer_syntax)
    }
}

/// What is stored, for negotiation.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// The transfer syntax the frame bytes are in (a deflated data set's frames are
    /// Explicit VR Little Endian once inflated).
    pub transfer_syntax: &'a str,
    /// Whether a codec can decode it to native.
    pub decodable: bool,
}

fn stored_choice(stored: Stored<'_>) -> Choice {
    Choice {
        media: image_type_of(stored.transfer_syntax).unwrap_or(OCTET_STREAM),
        transfer_syntax: stored.transfer_syntax.to_string(),
        source: Source::Stored,
    }
}

fn native_choice(stored: Stored<'_>, label: &str) -> Option<Choice> {
    if stored.transfer_syntax == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN
        && label == tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN
    {
        return Some(Choice {
            media: OCTET_STREAM,
            transfer_syntax: label.to_string(),
            source: Source::Stored,
        });
    }
    let little = matches!(
        label,
        uids::EXPLICIT_VR_LITTLE_ENDIAN | uids::IMPLICIT_VR_LITTLE_ENDIAN
    );
    (little && (is_native(stored.transfer_syntax) || stored.decodable)).then(|| Choice {
        media: OCTET_STREAM,
        transfer_syntax: label.to_string(),
        source: Source::Native,
    })
}

/// The representation answering one media range (`media` lower case, `*/*` for any;
/// `transfer_syntax`: a UID, `*`, or none for the media type's default), if any.
pub fn choose(media: &str, transfer_syntax: Option<&str>, stored: Stored<'_>) -> Option<Choice> {
    let ts = transfer_syntax.map(str::trim);
    match media {
        OCTET_STREAM => match ts {
            Some("*") => Some(Choice {
                media: OCTET_STREAM,
                ..stored_choice(stored)
            }),
            None => native_choice(stored, uids::EXPLICIT_VR_LITTLE_ENDIAN),
            Some(uid) if uid == stored.transfer_syntax && !is_native(uid) => Some(Choice {
                media: OCTET_STREAM,
                ..stored_choice(stored)
            }),
            Some(uid) => native_choice(stored, uid),
        },
        "*/*" | "application/*" => match ts {
            Some("*") => Some(stored_choice(stored)),
            Some(uid) => choose(OCTET_STREAM, Some(uid), stored),
            None => native_choice(stored, uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .or_else(|| (media == "*/*").then(|| stored_choice(stored))),
        },
        "image/*" => {
            let image = image_type_of(stored.transfer_syntax)?;
            choose(image, ts.or(Some("*")), stored)
        }
        _ => {
            let (image, syntaxes) = IMAGE_TYPES.iter().find(|(m, _)| *m == media)?;
            let served = match ts {
                None => syntaxes.first() == Some(&stored.transfer_syntax),
                Some("*") => syntaxes.contains(&stored.transfer_syntax),
                Some(uid) => uid == stored.transfer_syntax && syntaxes.contains(&uid),
            };
            served.then(|| Choice {
                media: image,
                transfer_syntax: stored.transfer_syntax.to_string(),
                source: Source::Stored,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(ts: &str, decodable: bool) -> Stored<'_> {
        Stored {
            transfer_syntax: ts,
            decodable,
        }
    }

    #[test]
    fn octet_stream() {
        let s = stored(uids::JPEG_BASELINE8_BIT, true);
        let c = choose(OCTET_STREAM, Some("*"), s).unwrap();
        assert_eq!(
            (c.source, c.transfer_syntax.as_str()),
            (Source::Stored, uids::JPEG_BASELINE8_BIT)
        );
        assert_eq!(c.media, OCTET_STREAM);
        let c = choose(OCTET_STREAM, None, s).unwrap();
        assert_eq!(c.source, Source::Native);
        assert_eq!(c.transfer_syntax, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(choose(OCTET_STREAM, None, stored(uids::JPEG_BASELINE8_BIT, false)).is_none());
        assert!(choose(OCTET_STREAM, Some(uids::JPEG_LOSSLESS_SV1), s).is_none());
        let c = choose(
            OCTET_STREAM,
            None,
            stored(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN, false),
        )
        .unwrap();
        assert_eq!(c.source, Source::Native);
        let c = choose(
            OCTET_STREAM,
            Some(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN),
            stored(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN, false),
        )
        .unwrap();
        assert_eq!(c.source, Source::Stored);
        assert!(choose(
            OCTET_STREAM,
            Some(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN),
            stored(uids::EXPLICIT_VR_LITTLE_ENDIAN, false)
        )
        .is_none());
    }

    #[test]
    fn image_types_need_the_stored_syntax() {
        let s = stored(uids::JPEG_BASELINE8_BIT, true);
        assert!(choose("image/jpeg", None, s).is_none(), "default is .70");
        let c = choose("image/jpeg", Some("*"), s).unwrap();
        assert_eq!((c.media, c.source), ("image/jpeg", Source::Stored));
        assert!(choose("image/jpeg", Some(uids::JPEG_BASELINE8_BIT), s).is_some());
        assert!(choose("image/jp2", Some("*"), s).is_none());
        assert!(choose("image/jpeg", None, stored(uids::JPEG_LOSSLESS_SV1, true)).is_some());
        assert!(choose("image/dicom-rle", None, stored(uids::RLE_LOSSLESS, true)).is_some());
        assert!(choose("image/png", None, s).is_none());
        let c = choose("image/*", None, s).unwrap();
        assert_eq!(c.media, "image/jpeg");
    }

    #[test]
    fn anything() {
        let c = choose("*/*", None, stored(uids::JPEG_BASELINE8_BIT, true)).unwrap();
        assert_eq!(c.source, Source::Native);
        let c = choose("*/*", None, stored(uids::JPEGLS_LOSSLESS, false)).unwrap();
        assert_eq!((c.media, c.source), ("image/jls", Source::Stored));
        let c = choose(
            "*/*",
            Some("*"),
            stored(uids::EXPLICIT_VR_LITTLE_ENDIAN, false),
        )
        .unwrap();
        assert_eq!((c.media, c.source), (OCTET_STREAM, Source::Stored));
    }
}
