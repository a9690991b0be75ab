//! Replacement values by VR: the dummy of action D (non-zero length, consistent with the VR)
//! and the empty value of action Z.

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{Length, Tag, VR};
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

/// The text Tessera puts where a dummy string is needed.
pub const DUMMY_TEXT: &str = "ANONYMOUS";
/// The dummy date, date-time and time.
pub const DUMMY_DATE: &str = "19000101";
pub const DUMMY_DATETIME: &str = "19000101000000";
pub const DUMMY_TIME: &str = "000000";

/// A dummy value for a primitive VR; `None` for SQ (handled by the walker) and for UI, whose
/// dummy is a replacement UID.
pub fn dummy_value(vr: VR) -> Option<PrimitiveValue> {
    Some(match vr {
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT | VR::UR => {
            PrimitiveValue::from(DUMMY_TEXT)
        }
        VR::AS => PrimitiveValue::from("000D"),
        VR::DA => PrimitiveValue::from(DUMMY_DATE),
        VR::DT => PrimitiveValue::from(DUMMY_DATETIME),
        VR::TM => PrimitiveValue::from(DUMMY_TIME),
        VR::DS | VR::IS => PrimitiveValue::from("0"),
        VR::US => PrimitiveValue::from(0u16),
        VR::SS => PrimitiveValue::from(0i16),
        VR::UL => PrimitiveValue::from(0u32),
        VR::SL => PrimitiveValue::from(0i32),
        VR::UV => PrimitiveValue::from(0u64),
        VR::SV => PrimitiveValue::from(0i64),
        VR::FL => PrimitiveValue::from(0f32),
        VR::FD => PrimitiveValue::from(0f64),
        VR::AT => PrimitiveValue::Tags(vec![Tag(0, 0)].into()),
        VR::OB | VR::UN => PrimitiveValue::U8([0u8, 0].into()),
        VR::OW => PrimitiveValue::U16(vec![0u16].into()),
        VR::OF => PrimitiveValue::F32(vec![0f32].into()),
        VR::OD => PrimitiveValue::F64(vec![0f64].into()),
        VR::OL => PrimitiveValue::U32(vec![0u32].into()),
        VR::OV => PrimitiveValue::U64(vec![0u64].into()),
        VR::SQ | VR::UI => return None,
    })
}

/// The element emptied (Z): zero length, same VR; a sequence with no items.
pub fn empty(tag: Tag, vr: VR) -> InMemElement {
    if vr == VR::SQ {
        let items: Vec<InMemDicomObject> = Vec::new();
        InMemElement::new(
            tag,
            VR::SQ,
            Value::from(DataSetSequence::new(items, Length(0))),
        )
    } else {
        InMemElement::new(tag, vr, PrimitiveValue::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::header::HasLength;

    #[test]
    fn every_primitive_vr_but_ui_has_a_non_empty_dummy() {
        for vr in [
            VR::AE,
            VR::AS,
            VR::AT,
            VR::CS,
            VR::DA,
            VR::DS,
            VR::DT,
            VR::FD,
            VR::FL,
            VR::IS,
            VR::LO,
            VR::LT,
            VR::OB,
            VR::OD,
            VR::OF,
            VR::OL,
            VR::OV,
            VR::OW,
            VR::PN,
            VR::SH,
            VR::SL,
            VR::SS,
            VR::ST,
            VR::SV,
            VR::TM,
            VR::UC,
            VR::UL,
            VR::UN,
            VR::UR,
            VR::US,
            VR::UT,
            VR::UV,
        ] {
            let value = dummy_value(vr).unwrap_or_else(|| panic!("{vr:?}"));
            assert!(!value.is_empty(), "{vr:?}");
        }
        assert!(dummy_value(VR::UI).is_none() && dummy_value(VR::SQ).is_none());
    }

    #[test]
    fn empty_keeps_the_vr() {
        let e = empty(Tag(0x0010, 0x0010), VR::PN);
        assert_eq!(e.vr(), VR::PN);
        assert!(e.value().primitive().unwrap().is_empty());
        let s = empty(Tag(0x0008, 0x1140), VR::SQ);
        assert_eq!(s.value().items().unwrap().len(), 0);
    }
}
