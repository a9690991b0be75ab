//! Replacement UIDs (action U): `2.25.` followed by the decimal value of a UUID (PS3.5 B.2)
//! made from the keyed hash of the original UID. The UUID is of version 8 (RFC 9562, custom
//! layout): its first 128 bits of HMAC-SHA256 with the version and variant bits set. The same
//! secret maps a UID to the same replacement in every run; UIDs under the DICOM root
//! (`1.2.840.10008.`, SOP classes, transfer syntaxes, well-known instances) identify no one
//! and are kept.

use std::collections::HashMap;

use super::key::Secret;

const DOMAIN: &str = "tessera-deid-uid";
const DICOM_ROOT: &str = "1.2.840.10008.";

/// The replacement of one UID, for the project's mapping table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UidMapping {
    pub original: String,
    pub replacement: String,
}

/// The UIDs replaced in one instance, in the order first met.
#[derive(Debug, Default)]
pub(crate) struct UidMap {
    seen: HashMap<String, usize>,
    mappings: Vec<UidMapping>,
}

/// The replacement of `original` (trimmed of padding) under `secret`.
pub fn replacement_uid(secret: &Secret, original: &str) -> String {
    let mac = secret.mac(DOMAIN, original.as_bytes());
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&mac[..16]);
    uuid[6] = (uuid[6] & 0x0F) | 0x80;
    uuid[8] = (uuid[8] & 0x3F) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(uuid))
}

impl UidMap {
    /// Replace one UID value; empty values and DICOM-defined UIDs are returned unchanged.
    pub fn replace(&mut self, secret: &Secret, raw: &str) -> String {
        let original = crate::uid::trim_uid(raw);
        if original.is_empty() || original.starts_with(DICOM_ROOT) {
            return original.to_string();
        }
        if let Some(at) = self.seen.get(original) {
            return self.mappings[*at].replacement.clone();
        }
        let replacement = replacement_uid(secret, original);
        self.seen.insert(original.to_string(), self.mappings.len());
        self.mappings.push(UidMapping {
            original: original.to_string(),
            replacement: replacement.clone(),
        });
        replacement
    }

    pub fn into_mappings(self) -> Vec<UidMapping> {
        self.mappings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> Secret {
        Secret::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn replacements_are_valid_consistent_and_keyed() {
        let a = replacement_uid(&secret(1), "1.2.3.4");
        assert!(a.starts_with("2.25.") && a.len() <= 64, "{a}");
        assert!(crate::uid::SopInstanceUid::parse(&a).is_ok());
        assert_eq!(a, replacement_uid(&secret(1), "1.2.3.4"));
        assert_ne!(a, replacement_uid(&secret(2), "1.2.3.4"));
        assert_ne!(a, replacement_uid(&secret(1), "1.2.3.5"));
    }

    #[test]
    fn the_uuid_has_version_8_and_the_rfc_variant() {
        let uid = replacement_uid(&secret(7), "1.2.3");
        let value: u128 = uid["2.25.".len()..].parse().unwrap();
        let bytes = value.to_be_bytes();
        assert_eq!(bytes[6] >> 4, 8);
        assert_eq!(bytes[8] >> 6, 0b10);
    }

    #[test]
    fn the_map_records_each_uid_once_and_keeps_dicom_uids() {
        let mut map = UidMap::default();
        let s = secret(3);
        let first = map.replace(&s, "1.2.3.4\0");
        assert_eq!(map.replace(&s, "1.2.3.4"), first);
        assert_eq!(
            map.replace(&s, "1.2.840.10008.5.1.4.1.1.2"),
            "1.2.840.10008.5.1.4.1.1.2"
        );
        assert_eq!(map.replace(&s, ""), "");
        let mappings = map.into_mappings();
        assert_eq!(mappings.len(), 1);
        assert_eq!(mappings[0].original, "1.2.3.4");
        assert_eq!(mappings[0].replacement, first);
    }
}
