//! Which transfer syntaxes an instance can be sent in, and the conversion (PS3.18 8.7.3.5.2,
//! PS3.5 Annex A).
//!
//! `transfer-syntax=*` or the stored syntax: the stored bytes, bit-exact. No transfer syntax:
//! the media type's default, Explicit VR Little Endian (PS3.18 Table 8.7.3-2). Native data sets
//! (implicit VR, big endian, deflated) are re-encoded; encapsulated pixel data is decoded with
//! dicom-pixeldata's codecs. An encapsulated target is produced where a codec can write it.
//! What cannot be produced is refused *before* anything is sent, from the index row alone.

use dicom_dictionary_std::uids;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::Transcode;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::index::InstanceRow;

/// One transfer syntax a client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `transfer-syntax=*`: whatever is stored.
    AsStored,
    /// A transfer syntax UID (the media type's default when the client named none).
    Syntax(String),
}

impl Target {
    /// From an Accept `transfer-syntax` parameter: absent means the default (ELE).
    pub fn from_parameter(parameter: Option<&str>) -> Target {
        match parameter.map(str::trim) {
            Some("*") => Target::AsStored,
            Some(uid) if !uid.is_empty() => Target::Syntax(uid.to_string()),
            _ => Target::Syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string()),
        }
    }
}

/// How one instance is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The transfer syntax of the bytes sent.
    pub transfer_syntax: String,
    /// Whether the stored bytes are converted (false: sent bit-exact).
    pub convert: bool,
}

/// What the index knows about an instance's pixel data.
#[derive(Debug, Clone, Copy)]
pub struct Pixels {
    pub present: bool,
    pub bits_allocated: Option<i64>,
}

impl Pixels {
    pub fn of(row: &InstanceRow) -> Pixels {
        Pixels {
            present: row.rows.is_some() && row.bits_allocated.is_some(),
            bits_allocated: row.bits_allocated,
        }
    }
}

fn name(uid: &str) -> String {
    match TransferSyntaxRegistry.get(uid) {
        Some(ts) => format!("{} ({uid})", ts.name()),
        None => uid.to_string(),
    }
}

/// Decide how an instance stored as `stored` is sent for `target`, or say why it cannot be.
pub fn decide(stored: &str, target: &Target, pixels: Pixels) -> Result<Decision, String> {
    let want = match target {
        Target::AsStored => None,
        Target::Syntax(uid) if uid == stored => None,
        Target::Syntax(uid) => Some(uid.as_str()),
    };
    let Some(want) = want else {
        return Ok(Decision {
            transfer_syntax: stored.to_string(),
            convert: false,
        });
    };
    let from = TransferSyntaxRegistry
        .get(stored)
        .ok_or_else(|| format!("the stored transfer syntax {stored} is unknown"))?;
    let to = TransferSyntaxRegistry
        .get(want)
        .ok_or_else(|| format!("transfer syntax {want} is unknown to this server"))?;
    let cannot = |why: &str| {
        Err(format!(
            "an instance stored as {} cannot be sent as {}: {why}",
            name(stored),
            name(want)
        ))
    };
    let bits_decodable = matches!(pixels.bits_allocated, Some(8) | Some(16));
    if from.is_encapsulated_pixel_data() && pixels.present {
        if from.pixel_data_reader().is_none() {
            return cannot("this server has no decoder for the stored syntax");
        }
        if !bits_decodable {
            return cannot("only 8 and 16 bit pixel data can be decoded");
        }
        if stored == uids::JPEG_EXTENDED12_BIT && pixels.bits_allocated != Some(8) {
            return cannot("the JPEG decoder reads 8 bit lossy JPEG only, not 12 bit");
        }
    }
    if to.is_encapsulated_pixel_data() {
        if to.pixel_data_writer().is_none() {
            return cannot("this server has no encoder for it");
        }
        if !pixels.present {
            return cannot("the instance has no pixel data to encode");
        }
        if want == uids::JPEG_BASELINE8_BIT && pixels.bits_allocated != Some(8) {
            return cannot("JPEG Baseline holds 8 bit samples only");
        }
        if !bits_decodable {
            return cannot("only 8 and 16 bit pixel data can be encoded");
        }
    } else if want != uids::EXPLICIT_VR_LITTLE_ENDIAN && want != uids::IMPLICIT_VR_LITTLE_ENDIAN {
        return cannot(
            "this server writes Explicit VR Little Endian, Implicit VR Little Endian and \
             the encapsulated syntaxes it has encoders for",
        );
    }
    Ok(Decision {
        transfer_syntax: want.to_string(),
        convert: true,
    })
}

/// Where the Part 10 stream starts: after the preamble, or at 0 for files without one.
fn part10_start(bytes: &[u8]) -> usize {
    if bytes.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    }
}

/// Read a whole stored instance, pixel data included.
pub fn open(bytes: &[u8]) -> Result<DefaultDicomObject, String> {
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(&bytes[part10_start(bytes)..])
        .map_err(|err| format!("cannot parse the stored instance: {err}"))
}

/// Convert an object in place to transfer syntax `to`.
pub fn convert(object: &mut DefaultDicomObject, to: &str) -> Result<(), String> {
    let ts = TransferSyntaxRegistry
        .get(to)
        .ok_or_else(|| format!("transfer syntax {to} is unknown"))?;
    let has_pixels = object
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .is_ok();
    if !has_pixels && !ts.is_encapsulated_pixel_data() {
        // Nothing to decode (e.g. a document filed under an image syntax): re-label only.
        object.update_meta(|meta| meta.set_transfer_syntax(ts));
        return Ok(());
    }
    object
        .transcode(ts)
        .map_err(|err| format!("cannot transcode to {}: {err}", name(to)))
}

/// Big endian Pixel Data of more than 16 bits allocated is stored with each sample's bytes
/// reversed (what pydicom and DCMTK read and write), although its VR is OW; the parser reads
/// OW as 16-bit words, which would give 32-bit samples with their halves exchanged once
/// written little endian. Put the sample-swapped bytes in instead.
fn fix_wide_big_endian_pixels(object: &mut DefaultDicomObject) {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;

    if object.meta().transfer_syntax() != tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN {
        return;
    }
    let bits = object
        .get(tags::BITS_ALLOCATED)
        .and_then(|e| e.to_int::<u16>().ok())
        .unwrap_or(0);
    if bits <= 16 || bits % 8 != 0 {
        return;
    }
    let Ok(element) = object.element(tags::PIXEL_DATA) else {
        return;
    };
    let Some(PrimitiveValue::U16(words)) = element.value().primitive() else {
        return;
    };
    // The bytes as stored, then each sample reversed: little endian samples.
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    super::values::swap_units(&mut bytes, usize::from(bits / 8));
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(bytes),
    ));
}

/// A stored instance as a Part 10 file in transfer syntax `to`.
pub fn transcode(bytes: &[u8], to: &str) -> Result<Vec<u8>, String> {
    let mut object = open(bytes)?;
    fix_wide_big_endian_pixels(&mut object);
    convert(&mut object, to)?;
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 2);
    object
        .write_all(&mut out)
        .map_err(|err| format!("cannot write the transcoded instance: {err}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXELS_16: Pixels = Pixels {
        present: true,
        bits_allocated: Some(16),
    };
    const NO_PIXELS: Pixels = Pixels {
        present: false,
        bits_allocated: None,
    };

    fn ele() -> Target {
        Target::from_parameter(None)
    }

    #[test]
    fn as_stored_and_same_syntax_are_bit_exact() {
        for target in [
            Target::AsStored,
            Target::Syntax(uids::JPEGLS_LOSSLESS.into()),
        ] {
            let d = decide(uids::JPEGLS_LOSSLESS, &target, PIXELS_16).unwrap();
            assert!(!d.convert);
            assert_eq!(d.transfer_syntax, uids::JPEGLS_LOSSLESS);
        }
        let d = decide(uids::EXPLICIT_VR_LITTLE_ENDIAN, &ele(), PIXELS_16).unwrap();
        assert!(!d.convert);
    }

    #[test]
    fn native_and_decodable_syntaxes_become_explicit_little_endian() {
        for stored in [
            uids::IMPLICIT_VR_LITTLE_ENDIAN,
            tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN,
            uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
            uids::RLE_LOSSLESS,
            uids::JPEG_BASELINE8_BIT,
            uids::JPEG_LOSSLESS_SV1,
            uids::JPEG2000_LOSSLESS,
        ] {
            let d = decide(stored, &ele(), PIXELS_16).unwrap();
            assert!(d.convert, "{stored}");
            assert_eq!(d.transfer_syntax, uids::EXPLICIT_VR_LITTLE_ENDIAN);
        }
        // Instances without pixel data need only the data set re-encoded.
        assert!(decide(uids::JPEG_BASELINE8_BIT, &ele(), NO_PIXELS).is_ok());
    }

    #[test]
    fn what_cannot_be_produced_is_refused_with_a_reason() {
        let err = decide(
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &Target::Syntax(uids::JPEG2000_LOSSLESS.into()),
            PIXELS_16,
        )
        .unwrap_err();
        assert!(err.contains("no encoder"), "{err}");
        let err = decide(
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &Target::Syntax(uids::JPEG_BASELINE8_BIT.into()),
            PIXELS_16,
        )
        .unwrap_err();
        assert!(err.contains("8 bit"), "{err}");
        let err = decide(
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &Target::Syntax("1.2.3.4".into()),
            PIXELS_16,
        )
        .unwrap_err();
        assert!(err.contains("unknown"), "{err}");
        let err = decide(
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &Target::Syntax(tessera_dicom::uid::EXPLICIT_VR_BIG_ENDIAN.into()),
            PIXELS_16,
        )
        .unwrap_err();
        assert!(err.contains("writes"), "{err}");
        let err = decide(
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            &Target::Syntax(uids::JPEGLS_LOSSLESS.into()),
            NO_PIXELS,
        );
        assert!(cfg!(not(feature = "jpeg-ls")) || err.unwrap_err().contains("no pixel data"));
    }

    #[test]
    fn parameters() {
        assert_eq!(Target::from_parameter(Some("*")), Target::AsStored);
        assert_eq!(
            Target::from_parameter(Some(" 1.2.840.10008.1.2 ")),
            Target::Syntax(uids::IMPLICIT_VR_LITTLE_ENDIAN.into())
        );
        assert_eq!(
            Target::from_parameter(None),
            Target::Syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN.into())
        );
    }
}
