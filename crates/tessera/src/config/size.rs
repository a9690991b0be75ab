//! Sizes in settings: `1048576`, `512MiB`, `8GiB`, `100MB`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes, written with or without a unit (B, kB/KiB, MB/MiB, GB/GiB, TB/TiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

/// Text that is not a size.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not a size such as 1048576, 512MiB, 8GiB or 100MB")]
pub struct NotASize(pub String);

impl FromStr for ByteSize {
    type Err = NotASize;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let invalid = || NotASize(raw.to_string());
        let number: u64 = digits.parse().map_err(|_| invalid())?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => 1 << 40,
            _ => return Err(invalid()),
        };
        number.checked_mul(factor).map(ByteSize).ok_or_else(invalid)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A plain number of bytes, so that every value survives a TOML round trip.
impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// A number of bytes or a string with a unit.
impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> Result<u64, NotASize> {
        text.parse::<ByteSize>().map(ByteSize::bytes)
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(size("1048576").unwrap(), 1 << 20);
        assert_eq!(size("512MiB").unwrap(), 512 << 20);
        assert_eq!(size("8 GiB").unwrap(), 8 << 30);
        assert_eq!(size("100MB").unwrap(), 100_000_000);
        assert!(size("12 parsecs").is_err());
        assert!(size("").is_err());
        assert!(size("99999999999TiB").is_err(), "overflow");
    }
}
