//! Binary values as bytes in a chosen byte order (PS3.5 7.3): bulk data is served either as
//! stored or little endian, whichever transfer syntax the client asked for.

use dicom_core::value::PrimitiveValue;

/// Bytes per unit of a VR that byte order applies to (1: none).
pub fn unit_size(vr: [u8; 2]) -> usize {
    match &vr {
        b"OW" | b"US" | b"SS" | b"AT" => 2,
        b"OF" | b"OL" | b"FL" | b"UL" | b"SL" => 4,
        b"OD" | b"OV" | b"FD" | b"SV" | b"UV" => 8,
        _ => 1,
    }
}

/// Reverse the bytes of every `unit`-byte value (big endian <-> little endian). A trailing
/// partial unit (an odd length that should not occur) is left as it is.
pub fn swap_units(bytes: &mut [u8], unit: usize) {
    if unit > 1 {
        for chunk in bytes.chunks_exact_mut(unit) {
            chunk.reverse();
        }
    }
}

/// The encoded bytes of a binary value read by dicom-object, in the byte order asked for.
/// `None` for values that are not binary (text, sequences).
pub fn primitive_bytes(value: &PrimitiveValue, big_endian: bool) -> Option<Vec<u8>> {
    macro_rules! encode {
        ($values:expr) => {
            Some(
                $values
                    .iter()
                    .flat_map(|v| {
                        if big_endian {
                            v.to_be_bytes().to_vec()
                        } else {
                            v.to_le_bytes().to_vec()
                        }
                    })
                    .collect(),
            )
        };
    }
    match value {
        PrimitiveValue::U8(v) => Some(v.to_vec()),
        PrimitiveValue::I16(v) => encode!(v),
        PrimitiveValue::U16(v) => encode!(v),
        PrimitiveValue::I32(v) => encode!(v),
        PrimitiveValue::U32(v) => encode!(v),
        PrimitiveValue::I64(v) => encode!(v),
        PrimitiveValue::U64(v) => encode!(v),
        PrimitiveValue::F32(v) => encode!(v),
        PrimitiveValue::F64(v) => encode!(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_either_byte_order() {
        let value = PrimitiveValue::U16(vec![0x0102, 0x0304].into());
        assert_eq!(primitive_bytes(&value, false), Some(vec![2, 1, 4, 3]));
        assert_eq!(primitive_bytes(&value, true), Some(vec![1, 2, 3, 4]));
        let value = PrimitiveValue::F32(vec![1.0].into());
        assert_eq!(
            primitive_bytes(&value, false),
            Some(1f32.to_le_bytes().to_vec())
        );
        assert_eq!(primitive_bytes(&PrimitiveValue::from("x"), false), None);
    }

    #[test]
    fn swaps_whole_units_only() {
        let mut bytes = vec![1, 2, 3, 4, 5];
        swap_units(&mut bytes, 2);
        assert_eq!(bytes, [2, 1, 4, 3, 5]);
        swap_units(&mut bytes, 1);
        assert_eq!(bytes, [2, 1, 4, 3, 5]);
        assert_eq!(unit_size(*b"OD"), 8);
        assert_eq!(unit_size(*b"OB"), 1);
    }
}
