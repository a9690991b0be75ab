//! Identities burned into pixels (PS3.15 E.1.1 note 5, E.3.1 Clean Pixel Data Option).
//!
//! Pixel data is copied bit for bit, so an instance whose pixels may show a name is refused
//! unless the operator allows it or gives a mask for it: Burned In Annotation (0028,0301)
//! YES, or a SOP class whose images usually carry text burned in (secondary capture,
//! ultrasound). Recognizable Visual Features (0028,0302) YES (a face) is refused unless
//! allowed: Clean Recognizable Visual Features is not offered.
//!
//! A mask is a list of rectangles for one device (Manufacturer, optionally Manufacturer's
//! Model Name) and image size (Rows, Columns); the pixels inside are set to black in every
//! frame. Masks are applied to native (uncompressed) pixel data only: decoding encapsulated
//! data needs codecs (dicom-pixeldata) that this crate does not link, and re-encoding would
//! change the pixel data of the whole image, so such an instance with a matching mask is
//! refused and is to be decoded to a native transfer syntax first.

use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use super::error::DeidError;

/// SOP classes whose pixels usually carry burned-in text.
#[allow(deprecated)]
pub const BURNED_IN_SOP_CLASSES: [&str; 9] = [
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::ULTRASOUND_IMAGE_STORAGE_RETIRED,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE_RETIRED,
];

/// A rectangle in image pixel coordinates (0-based column `x`, row `y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The places where one device burns text into images of one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelMask {
    /// Manufacturer (0008,0070), compared without case and padding.
    pub manufacturer: String,
    /// Manufacturer's Model Name (0008,1090); `None` matches every model.
    pub model: Option<String>,
    pub rows: u16,
    pub columns: u16,
    pub rectangles: Vec<Rect>,
}

/// What may pass with pixels as they are, and the masks of Clean Pixel Data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PixelPolicy {
    /// Pass instances whose pixels may show burned-in text without a mask.
    pub allow_burned_in_text: bool,
    /// Pass instances that declare recognizable visual features.
    pub allow_recognizable_features: bool,
    pub masks: Vec<PixelMask>,
}

fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = object.get(tag)?.to_str().ok()?;
    let trimmed = value.trim_matches(|c: char| c == ' ' || c == '\0');
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl PixelPolicy {
    /// The mask for this instance, after checking that it may pass at all.
    pub fn check(
        &self,
        object: &InMemDicomObject,
        has_pixels: bool,
    ) -> Result<Option<&PixelMask>, DeidError> {
        if !has_pixels {
            return Ok(None);
        }
        let rows = object.get(tags::ROWS).and_then(|e| e.to_int::<u16>().ok());
        let columns = object
            .get(tags::COLUMNS)
            .and_then(|e| e.to_int::<u16>().ok());
        let manufacturer = text(object, tags::MANUFACTURER).unwrap_or_default();
        let model = text(object, tags::MANUFACTURER_MODEL_NAME).unwrap_or_default();
        let mask = self.masks.iter().find(|m| {
            same(&m.manufacturer, &manufacturer)
                && m.model.as_deref().is_none_or(|want| same(want, &model))
                && Some(m.rows) == rows
                && Some(m.columns) == columns
        });
        if text(object, tags::RECOGNIZABLE_VISUAL_FEATURES).as_deref() == Some("YES")
            && !self.allow_recognizable_features
        {
            return Err(DeidError::RecognizableFeatures);
        }
        let sop_class = text(object, tags::SOP_CLASS_UID).unwrap_or_default();
        let risk = if text(object, tags::BURNED_IN_ANNOTATION).as_deref() == Some("YES") {
            Some("Burned In Annotation is YES".to_string())
        } else if BURNED_IN_SOP_CLASSES.contains(&sop_class.as_str()) {
            Some(format!("SOP class {sop_class} usually has text burned in"))
        } else {
            None
        };
        match risk {
            Some(reason) if mask.is_none() && !self.allow_burned_in_text => {
                Err(DeidError::BurnedInText { reason })
            }
            _ => Ok(mask),
        }
    }
}

/// How native pixel data is laid out, from the image pixel module.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub rows: usize,
    pub columns: usize,
    pub samples: usize,
    pub bytes_per_sample: usize,
    pub planar: bool,
    pub frames: usize,
    /// The stored value that displays black, in `bytes_per_sample` bytes.
    pub black: i64,
    pub big_endian: bool,
}

impl Geometry {
    pub fn of(object: &InMemDicomObject, big_endian: bool) -> Result<Geometry, DeidError> {
        let int = |tag: Tag| object.get(tag).and_then(|e| e.to_int::<i64>().ok());
        let unsupported = |what: String| DeidError::MaskUnsupported(what);
        let rows = int(tags::ROWS).ok_or_else(|| unsupported("no Rows".into()))?;
        let columns = int(tags::COLUMNS).ok_or_else(|| unsupported("no Columns".into()))?;
        let bits_allocated = int(tags::BITS_ALLOCATED).unwrap_or(0);
        if ![8, 16, 32].contains(&bits_allocated) {
            return Err(unsupported(format!("Bits Allocated {bits_allocated}")));
        }
        let bits_stored = int(tags::BITS_STORED)
            .unwrap_or(bits_allocated)
            .clamp(1, bits_allocated);
        let signed = int(tags::PIXEL_REPRESENTATION) == Some(1);
        let photometric = text(object, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
        let black = match (photometric.as_str(), signed) {
            ("MONOCHROME1", false) => (1i64 << bits_stored) - 1,
            ("MONOCHROME1", true) => (1i64 << (bits_stored - 1)) - 1,
            ("MONOCHROME2", true) => -(1i64 << (bits_stored - 1)),
            ("MONOCHROME2" | "RGB" | "PALETTE COLOR", _) => 0,
            (other, _) => return Err(unsupported(format!("Photometric Interpretation {other}"))),
        };
        Ok(Geometry {
            rows: rows.max(0) as usize,
            columns: columns.max(0) as usize,
            samples: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1) as usize,
            bytes_per_sample: (bits_allocated / 8) as usize,
            planar: int(tags::PLANAR_CONFIGURATION) == Some(1),
            frames: int(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize,
            black,
            big_endian,
        })
    }
}

/// Set every pixel inside the mask's rectangles to black, in every frame and sample of the
/// native pixel data `value`.
pub fn apply_mask(
    value: &mut [u8],
    geometry: &Geometry,
    mask: &PixelMask,
) -> Result<(), DeidError> {
    let g = geometry;
    let frame_len = g.rows * g.columns * g.samples * g.bytes_per_sample;
    if frame_len == 0 || value.len() < frame_len * g.frames {
        return Err(DeidError::MaskUnsupported(format!(
            "the pixel data has {} bytes, fewer than {} frames of {frame_len}",
            value.len(),
            g.frames
        )));
    }
    let wide = g.black.to_le_bytes();
    let mut black: Vec<u8> = wide[..g.bytes_per_sample].to_vec();
    if g.big_endian {
        black.reverse();
    }
    for frame in 0..g.frames {
        for rect in &mask.rectangles {
            let rows =
                (rect.y as usize).min(g.rows)..(rect.y as usize + rect.height as usize).min(g.rows);
            let cols = (rect.x as usize).min(g.columns)
                ..(rect.x as usize + rect.width as usize).min(g.columns);
            for row in rows {
                for col in cols.clone() {
                    for sample in 0..g.samples {
                        let index = if g.planar {
                            sample * g.rows * g.columns + row * g.columns + col
                        } else {
                            (row * g.columns + col) * g.samples + sample
                        };
                        let at = frame * frame_len + index * g.bytes_per_sample;
                        value[at..at + g.bytes_per_sample].copy_from_slice(&black);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::PrimitiveValue;
    use dicom_core::VR;
    use dicom_object::mem::InMemElement;

    fn image(sop_class: &str, burned_in: Option<&str>) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        o.put(InMemElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ));
        o.put(InMemElement::new(
            tags::MANUFACTURER,
            VR::LO,
            PrimitiveValue::from("ACME "),
        ));
        o.put(InMemElement::new(
            tags::ROWS,
            VR::US,
            PrimitiveValue::from(4u16),
        ));
        o.put(InMemElement::new(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(3u16),
        ));
        if let Some(b) = burned_in {
            o.put(InMemElement::new(
                tags::BURNED_IN_ANNOTATION,
                VR::CS,
                PrimitiveValue::from(b),
            ));
        }
        o
    }

    fn mask() -> PixelMask {
        PixelMask {
            manufacturer: "acme".into(),
            model: None,
            rows: 4,
            columns: 3,
            rectangles: vec![Rect {
                x: 1,
                y: 0,
                width: 5,
                height: 2,
            }],
        }
    }

    #[test]
    fn burned_in_text_is_refused_unless_allowed_or_masked() {
        let ct = uids::CT_IMAGE_STORAGE;
        let sc = uids::SECONDARY_CAPTURE_IMAGE_STORAGE;
        let refuse = PixelPolicy::default();
        assert!(refuse.check(&image(ct, None), true).unwrap().is_none());
        assert!(refuse.check(&image(ct, Some("NO")), true).is_ok());
        assert!(matches!(
            refuse.check(&image(ct, Some("YES")), true),
            Err(DeidError::BurnedInText { .. })
        ));
        assert!(matches!(
            refuse.check(&image(sc, None), true),
            Err(DeidError::BurnedInText { .. })
        ));
        assert!(matches!(
            refuse.check(
                &image(uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE, Some("NO")),
                true
            ),
            Err(DeidError::BurnedInText { .. })
        ));
        // Without pixel data there is nothing to refuse.
        assert!(refuse.check(&image(sc, Some("YES")), false).is_ok());
        let allow = PixelPolicy {
            allow_burned_in_text: true,
            ..PixelPolicy::default()
        };
        assert!(allow
            .check(&image(sc, Some("YES")), true)
            .unwrap()
            .is_none());
        let masked = PixelPolicy {
            masks: vec![mask()],
            ..PixelPolicy::default()
        };
        assert_eq!(
            masked.check(&image(sc, Some("YES")), true).unwrap(),
            Some(&mask())
        );
        let other_size = PixelPolicy {
            masks: vec![PixelMask { rows: 5, ..mask() }],
            ..PixelPolicy::default()
        };
        assert!(other_size.check(&image(sc, None), true).is_err());
    }

    #[test]
    fn recognizable_features_are_refused_unless_allowed() {
        let mut o = image(uids::CT_IMAGE_STORAGE, None);
        o.put(InMemElement::new(
            tags::RECOGNIZABLE_VISUAL_FEATURES,
            VR::CS,
            PrimitiveValue::from("YES"),
        ));
        assert!(matches!(
            PixelPolicy::default().check(&o, true),
            Err(DeidError::RecognizableFeatures)
        ));
        let allow = PixelPolicy {
            allow_recognizable_features: true,
            ..PixelPolicy::default()
        };
        assert!(allow.check(&o, true).is_ok());
    }

    #[test]
    fn masks_blacken_only_their_rectangles_in_every_frame() {
        let geometry = Geometry {
            rows: 4,
            columns: 3,
            samples: 1,
            bytes_per_sample: 2,
            planar: false,
            frames: 2,
            black: 0,
            big_endian: false,
        };
        let mut value = vec![0xAAu8; 4 * 3 * 2 * 2];
        apply_mask(&mut value, &geometry, &mask()).unwrap();
        for frame in 0..2 {
            for row in 0..4 {
                for col in 0..3 {
                    let at = frame * 24 + (row * 3 + col) * 2;
                    let inside = row < 2 && col >= 1;
                    let expected = if inside { [0, 0] } else { [0xAA, 0xAA] };
                    assert_eq!(
                        value[at..at + 2],
                        expected,
                        "frame {frame} row {row} col {col}"
                    );
                }
            }
        }
    }

    #[test]
    fn monochrome1_black_is_the_largest_value_and_rgb_planes_are_each_masked() {
        let mut o = image(uids::CT_IMAGE_STORAGE, None);
        o.put(InMemElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            PrimitiveValue::from(16u16),
        ));
        o.put(InMemElement::new(
            tags::BITS_STORED,
            VR::US,
            PrimitiveValue::from(12u16),
        ));
        o.put(InMemElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME1"),
        ));
        let g = Geometry::of(&o, true).unwrap();
        assert_eq!(g.black, 4095);
        let mut value = vec![0u8; 24];
        apply_mask(&mut value, &g, &mask()).unwrap();
        assert_eq!(value[2..4], [0x0F, 0xFF]);
        let rgb = Geometry {
            samples: 3,
            bytes_per_sample: 1,
            planar: true,
            frames: 1,
            black: 0,
            ..g
        };
        let mut planes = vec![9u8; 36];
        apply_mask(&mut planes, &rgb, &mask()).unwrap();
        for plane in 0..3 {
            assert_eq!(planes[plane * 12 + 1], 0);
            assert_eq!(planes[plane * 12], 9);
        }
        o.put(InMemElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("YBR_FULL_422"),
        ));
        assert!(matches!(
            Geometry::of(&o, false),
            Err(DeidError::MaskUnsupported(_))
        ));
    }
}
