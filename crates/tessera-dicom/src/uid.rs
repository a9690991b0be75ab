//! Validated UIDs (PS3.5 9.1): 1 to 64 characters, digits and dots, components without
//! leading zeros are not enforced (many real files break that rule and are still useful).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a UID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {len} characters long; at most 64 are allowed")]
    TooLong { kind: &'static str, len: usize },
    #[error("{kind} {value:?} has characters other than digits and dots")]
    BadCharacters { kind: &'static str, value: String },
}

/// Explicit VR Big Endian, retired by the standard (PS3.5 A.3) and so marked deprecated in
/// dicom-dictionary-std; Tessera still stores, reads and serves it. Every other transfer
/// syntax and SOP class UID is used straight from `dicom_dictionary_std::uids`.
#[allow(deprecated)]
pub const EXPLICIT_VR_BIG_ENDIAN: &str = dicom_dictionary_std::uids::EXPLICIT_VR_BIG_ENDIAN;

/// Trim the padding a DICOM UID value may carry (trailing NUL or space).
pub fn trim_uid(raw: &str) -> &str {
    raw.trim_matches(|c: char| c == '\0' || c == ' ')
}

fn validate(kind: &'static str, raw: &str) -> Result<String, UidError> {
    let value = trim_uid(raw);
    if value.is_empty() {
        return Err(UidError::Empty { kind });
    }
    if value.len() > 64 {
        return Err(UidError::TooLong {
            kind,
            len: value.len(),
        });
    }
    let well_formed = value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !value.starts_with('.')
        && !value.ends_with('.')
        && !value.contains("..");
    if !well_formed {
        return Err(UidError::BadCharacters {
            kind,
            value: value.chars().take(80).collect(),
        });
    }
    Ok(value.to_string())
}

macro_rules! uid_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const KIND: &'static str = $kind;

            pub fn parse(raw: &str) -> Result<Self, UidError> {
                validate($kind, raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = UidError;
            fn try_from(value: String) -> Result<Self, UidError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

uid_type!(
    /// Study Instance UID (0020,000D).
    StudyUid,
    "StudyInstanceUID"
);
uid_type!(
    /// Series Instance UID (0020,000E).
    SeriesUid,
    "SeriesInstanceUID"
);
uid_type!(
    /// SOP Instance UID (0008,0018).
    SopInstanceUid,
    "SOPInstanceUID"
);
uid_type!(
    /// SOP Class UID (0008,0016).
    SopClassUid,
    "SOPClassUID"
);
uid_type!(
    /// Transfer Syntax UID (0002,0010).
    TransferSyntaxUid,
    "TransferSyntaxUID"
);

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids;

    #[test]
    fn accepts_padded_uids() {
        let uid = StudyUid::parse("1.2.840.10008.1.2\0").unwrap();
        assert_eq!(uid.as_str(), uids::IMPLICIT_VR_LITTLE_ENDIAN);
    }

    #[test]
    fn rejects_bad_uids() {
        assert!(matches!(
            SopInstanceUid::parse(""),
            Err(UidError::Empty { .. })
        ));
        let long = format!("1.{}", "2".repeat(63));
        assert!(matches!(
            SopInstanceUid::parse(&long),
            Err(UidError::TooLong { len: 65, .. })
        ));
        assert!(SopInstanceUid::parse("1.2.abc").is_err());
        assert!(SopInstanceUid::parse("1..2").is_err());
        assert!(SopInstanceUid::parse("1.2.").is_err());
        assert!(SopInstanceUid::parse(&"1".repeat(64)).is_ok());
    }
}
