//! Give UN elements of known attributes their dictionary VR (PS3.5 6.2.2 note: an element
//! received as UN keeps its bytes; a reader that knows the attribute may interpret them).
//! Files converted through implicit VR often carry StudyInstanceUID and friends as UN.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::VR;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

use crate::charset::CharacterSets;

/// Replace every top-level UN element whose tag the standard dictionary knows with an element
/// of the dictionary's VR, decoded from the same bytes.
pub fn resolve_unknown_vrs(
    object: &mut InMemDicomObject,
    big_endian: bool,
    charsets: &CharacterSets,
) {
    let replacements: Vec<InMemElement> = object
        .iter()
        .filter(|e| e.vr() == VR::UN)
        .filter_map(|e| {
            let Value::Primitive(PrimitiveValue::U8(bytes)) = e.value() else {
                return None;
            };
            let entry = StandardDataDictionary.by_tag(e.tag())?;
            let VirtualVr::Exact(vr) = entry.vr() else {
                return None;
            };
            let value = decode(bytes, vr, big_endian, charsets)?;
            Some(InMemElement::new(e.tag(), vr, value))
        })
        .collect();
    for element in replacements {
        object.put(element);
    }
}

fn decode(
    bytes: &[u8],
    vr: VR,
    big_endian: bool,
    charsets: &CharacterSets,
) -> Option<PrimitiveValue> {
    macro_rules! numbers {
        ($ty:ty, $size:expr, $variant:ident) => {{
            if bytes.len() % $size != 0 {
                return None;
            }
            let values = bytes.chunks_exact($size).map(|c| {
                let array: [u8; $size] = c.try_into().unwrap_or([0; $size]);
                if big_endian {
                    <$ty>::from_be_bytes(array)
                } else {
                    <$ty>::from_le_bytes(array)
                }
            });
            Some(PrimitiveValue::$variant(values.collect()))
        }};
    }
    match vr {
        VR::US => numbers!(u16, 2, U16),
        VR::SS => numbers!(i16, 2, I16),
        VR::UL => numbers!(u32, 4, U32),
        VR::SL => numbers!(i32, 4, I32),
        VR::FL => numbers!(f32, 4, F32),
        VR::FD => numbers!(f64, 8, F64),
        VR::AE
        | VR::AS
        | VR::CS
        | VR::DA
        | VR::DS
        | VR::DT
        | VR::IS
        | VR::TM
        | VR::UI
        | VR::LO
        | VR::PN
        | VR::SH
        | VR::UC => {
            let text = charsets.decode(bytes, vr_bytes(vr));
            let values: Vec<String> = text
                .split('\\')
                .map(|v| v.trim_matches(|c: char| c == ' ' || c == '\0').to_string())
                .collect();
            Some(PrimitiveValue::Strs(values.into_iter().collect()))
        }
        VR::LT | VR::ST | VR::UT | VR::UR => {
            let text = charsets.decode(bytes, vr_bytes(vr));
            Some(PrimitiveValue::Str(
                text.trim_end_matches([' ', '\0']).to_string(),
            ))
        }
        _ => None,
    }
}

fn vr_bytes(vr: VR) -> [u8; 2] {
    let name = vr.to_string().as_bytes();
    [name[0], name[1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;

    #[test]
    fn known_un_elements_get_their_vr() {
        let mut object = InMemDicomObject::new_empty();
        object.put(InMemElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UN,
            PrimitiveValue::U8(b"1.2.3.4\0".iter().copied().collect()),
        ));
        object.put(InMemElement::new(
            tags::ROWS,
            VR::UN,
            PrimitiveValue::U8([0x00, 0x02].into_iter().collect()),
        ));
        resolve_unknown_vrs(&mut object, false, &CharacterSets::default_repertoire());
        let uid = object.element(tags::STUDY_INSTANCE_UID).unwrap();
        assert_eq!(uid.vr(), VR::UI);
        assert_eq!(uid.to_str().unwrap(), "1.2.3.4");
        let rows = object.element(tags::ROWS).unwrap();
        assert_eq!(rows.vr(), VR::US);
        assert_eq!(rows.to_int::<u16>().unwrap(), 512);
    }
}
