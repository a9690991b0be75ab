//! The burned-in text policy and Clean Pixel Data masks, through whole files.

use dicom_core::value::PrimitiveValue;
use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use tessera_dicom::deid::{
    DeidError, Deidentifier, Options, PixelMask, PixelPolicy, Profile, Rect,
};

use super::corpus::raw_pixel_data;
use super::support::{element_text, open, secret};

/// A 4x4 8-bit secondary capture by "ACME" model "SC1", pixels 0..16.
fn secondary_capture() -> Vec<u8> {
    let mut o = InMemDicomObject::new_empty();
    let text = |tag, vr, v: &str| InMemElement::new(tag, vr, PrimitiveValue::from(v));
    o.put(text(
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    ));
    o.put(text(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5"));
    o.put(text(tags::PATIENT_NAME, VR::PN, "DOE^JANE"));
    o.put(text(tags::MANUFACTURER, VR::LO, "ACME"));
    o.put(text(tags::MANUFACTURER_MODEL_NAME, VR::LO, "SC1"));
    o.put(text(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    ));
    for (tag, v) in [
        (tags::ROWS, 4u16),
        (tags::COLUMNS, 4),
        (tags::BITS_ALLOCATED, 8),
        (tags::BITS_STORED, 8),
        (tags::SAMPLES_PER_PIXEL, 1),
    ] {
        o.put(InMemElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    o.put(InMemElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8((1u8..=16).collect()),
    ));
    let ts = TransferSyntaxRegistry
        .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .unwrap();
    let mut file = tessera_dicom::part10::file_meta(
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        "1.2.3.4.5",
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        None,
    );
    o.write_dataset_with_ts(&mut file, ts).unwrap();
    file
}

fn deidentifier(pixels: PixelPolicy) -> Deidentifier {
    Deidentifier::new(Profile {
        options: Options::default(),
        secret: secret(4),
        pixels,
    })
}

fn acme_mask(model: Option<&str>) -> PixelMask {
    PixelMask {
        manufacturer: "Acme".into(),
        model: model.map(str::to_string),
        rows: 4,
        columns: 4,
        rectangles: vec![Rect {
            x: 0,
            y: 0,
            width: 4,
            height: 1,
        }],
    }
}

#[test]
fn a_secondary_capture_is_refused_without_permission_or_mask() {
    let err = deidentifier(PixelPolicy::default())
        .deidentify(&secondary_capture())
        .unwrap_err();
    assert!(matches!(err, DeidError::BurnedInText { .. }), "{err}");
    let wrong_model = PixelPolicy {
        masks: vec![acme_mask(Some("SC2"))],
        ..PixelPolicy::default()
    };
    assert!(deidentifier(wrong_model)
        .deidentify(&secondary_capture())
        .is_err());
}

#[test]
fn allowed_without_a_mask_the_pixels_are_unchanged() {
    let file = secondary_capture();
    let policy = PixelPolicy {
        allow_burned_in_text: true,
        ..PixelPolicy::default()
    };
    let outcome = deidentifier(policy).deidentify(&file).unwrap();
    assert!(!outcome.pixels_masked);
    assert_eq!(raw_pixel_data(&outcome.part10), raw_pixel_data(&file));
}

#[test]
fn a_mask_blackens_its_rectangle_and_says_so() {
    let policy = PixelPolicy {
        masks: vec![acme_mask(Some("sc1"))],
        ..PixelPolicy::default()
    };
    let outcome = deidentifier(policy)
        .deidentify(&secondary_capture())
        .unwrap();
    assert!(outcome.pixels_masked);
    let output = open(&outcome.part10);
    let pixels = output
        .element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec();
    let mut expected: Vec<u8> = (1u8..=16).collect();
    expected[..4].fill(0);
    assert_eq!(pixels, expected);
    assert_eq!(
        element_text(&output, tags::BURNED_IN_ANNOTATION).as_deref(),
        Some("NO")
    );
    let codes = output
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap();
    let values: Vec<String> = codes
        .value()
        .items()
        .unwrap()
        .iter()
        .filter_map(|i| element_text(i, tags::CODE_VALUE))
        .collect();
    assert_eq!(values, ["113100", "113101"]);
}

#[test]
fn a_mask_on_encapsulated_pixels_is_refused() {
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/SC_rgb_jpeg_dcmtk.dcm"
    ))
    .unwrap();
    let object = open(&file);
    let mask = PixelMask {
        manufacturer: element_text(&object, tags::MANUFACTURER).unwrap_or_default(),
        model: None,
        rows: object.element(tags::ROWS).unwrap().to_int().unwrap(),
        columns: object.element(tags::COLUMNS).unwrap().to_int().unwrap(),
        rectangles: vec![Rect {
            x: 0,
            y: 0,
            width: 1,
            height: 1,
        }],
    };
    let policy = PixelPolicy {
        masks: vec![mask],
        ..PixelPolicy::default()
    };
    let err = deidentifier(policy).deidentify(&file).unwrap_err();
    assert!(
        matches!(err, DeidError::MaskNeedsNativePixels { .. }),
        "{err}"
    );
}
