//! What a de-identified instance says about itself (PS3.15 E.1.1 item 6, PS3.3 C.7.1.1):
//! Patient Identity Removed (0012,0062) YES, De-identification Method (0012,0063) and
//! De-identification Method Code Sequence (0012,0064) with a code of CID 7050 for the
//! profile and each option applied, and Longitudinal Temporal Information Modified
//! (0028,0303) for the date option.

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{Length, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

use super::options::{Dates, Options};

/// One code of CID 7050 De-identification Method (coding scheme DCM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodCode {
    pub value: &'static str,
    pub meaning: &'static str,
}

const fn code(value: &'static str, meaning: &'static str) -> MethodCode {
    MethodCode { value, meaning }
}

pub const BASIC_PROFILE: MethodCode = code("113100", "Basic Application Confidentiality Profile");
pub const CLEAN_PIXEL_DATA: MethodCode = code("113101", "Clean Pixel Data Option");
pub const CLEAN_GRAPHICS: MethodCode = code("113103", "Clean Graphics Option");
pub const CLEAN_STRUCTURED_CONTENT: MethodCode = code("113104", "Clean Structured Content Option");
pub const CLEAN_DESCRIPTORS: MethodCode = code("113105", "Clean Descriptors Option");
pub const RETAIN_FULL_DATES: MethodCode = code(
    "113106",
    "Retain Longitudinal Temporal Information Full Dates Option",
);
pub const RETAIN_MODIFIED_DATES: MethodCode = code(
    "113107",
    "Retain Longitudinal Temporal Information Modified Dates Option",
);
pub const RETAIN_PATIENT_CHARACTERISTICS: MethodCode =
    code("113108", "Retain Patient Characteristics Option");
pub const RETAIN_DEVICE_IDENTITY: MethodCode = code("113109", "Retain Device Identity Option");
pub const RETAIN_UIDS: MethodCode = code("113110", "Retain UIDs Option");
pub const RETAIN_SAFE_PRIVATE: MethodCode = code("113111", "Retain Safe Private Option");
pub const RETAIN_INSTITUTION_IDENTITY: MethodCode =
    code("113112", "Retain Institution Identity Option");

/// The codes of the profile and of every option applied, in code order.
pub fn codes(options: &Options, pixels_cleaned: bool) -> Vec<MethodCode> {
    let mut out = vec![BASIC_PROFILE];
    let mut add = |on: bool, code: MethodCode| {
        if on {
            out.push(code);
        }
    };
    add(pixels_cleaned, CLEAN_PIXEL_DATA);
    add(options.clean_graphics, CLEAN_GRAPHICS);
    add(options.clean_structured_content, CLEAN_STRUCTURED_CONTENT);
    add(options.clean_descriptors, CLEAN_DESCRIPTORS);
    add(options.dates == Dates::RetainFull, RETAIN_FULL_DATES);
    add(
        options.dates == Dates::RetainModified,
        RETAIN_MODIFIED_DATES,
    );
    add(
        options.retain_patient_characteristics,
        RETAIN_PATIENT_CHARACTERISTICS,
    );
    add(options.retain_device_identity, RETAIN_DEVICE_IDENTITY);
    add(options.retain_uids, RETAIN_UIDS);
    add(options.retain_safe_private, RETAIN_SAFE_PRIVATE);
    add(
        options.retain_institution_identity,
        RETAIN_INSTITUTION_IDENTITY,
    );
    out
}

/// Write the attributes into the de-identified top-level data set.
pub fn stamp(
    object: &mut InMemDicomObject,
    options: &Options,
    edition: &str,
    pixels_cleaned: bool,
) {
    let codes = codes(options, pixels_cleaned);
    object.put(InMemElement::new(
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    // LO values are at most 64 characters: one value per code, the first naming the edition.
    let mut text: Vec<String> = vec![format!("{} (PS3.15 {edition})", BASIC_PROFILE.meaning)];
    text.extend(codes.iter().skip(1).map(|c| c.meaning.to_string()));
    object.put(InMemElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        PrimitiveValue::Strs(text.into()),
    ));
    let items: Vec<InMemDicomObject> = codes
        .iter()
        .map(|c| {
            InMemDicomObject::from_element_iter([
                InMemElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(c.value)),
                InMemElement::new(
                    tags::CODING_SCHEME_DESIGNATOR,
                    VR::SH,
                    PrimitiveValue::from("DCM"),
                ),
                InMemElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(c.meaning)),
            ])
        })
        .collect();
    object.put(InMemElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        Value::from(DataSetSequence::new(items, Length::UNDEFINED)),
    ));
    let temporal = match options.dates {
        Dates::Remove => "REMOVED",
        Dates::RetainFull => "UNMODIFIED",
        Dates::RetainModified => "MODIFIED",
    };
    object.put(InMemElement::new(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        PrimitiveValue::from(temporal),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basic_profile_alone_has_one_code() {
        assert_eq!(codes(&Options::default(), false), vec![BASIC_PROFILE]);
    }

    #[test]
    fn every_option_adds_its_code() {
        let all = Options {
            retain_safe_private: true,
            retain_uids: true,
            retain_device_identity: true,
            retain_institution_identity: true,
            retain_patient_characteristics: true,
            dates: Dates::RetainModified,
            clean_descriptors: true,
            clean_structured_content: true,
            clean_graphics: true,
        };
        let values: Vec<&str> = codes(&all, true).iter().map(|c| c.value).collect();
        assert_eq!(
            values,
            [
                "113100", "113101", "113103", "113104", "113105", "113107", "113108", "113109",
                "113110", "113111", "113112"
            ]
        );
        for c in codes(&all, true) {
            assert!(c.meaning.len() <= 64, "{}", c.meaning);
        }
    }

    #[test]
    fn stamp_writes_the_four_attributes() {
        let mut object = InMemDicomObject::new_empty();
        stamp(&mut object, &Options::default(), "2026c", false);
        let removed = object.element(tags::PATIENT_IDENTITY_REMOVED).unwrap();
        assert_eq!(removed.to_str().unwrap(), "YES");
        let method = object.element(tags::DEIDENTIFICATION_METHOD).unwrap();
        assert!(method.to_str().unwrap().contains("PS3.15 2026c"));
        let seq = object
            .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
            .unwrap();
        let items = seq.value().items().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0]
                .element(tags::CODE_VALUE)
                .unwrap()
                .to_str()
                .unwrap(),
            "113100"
        );
        let temporal = object
            .element(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED)
            .unwrap();
        assert_eq!(temporal.to_str().unwrap(), "REMOVED");
    }
}
