//! The project secret and the keyed hash (HMAC-SHA256) that every replacement value is derived
//! from: the same secret gives the same UIDs, pseudonyms and date offsets in every run, so
//! series de-identified separately still belong together; without the secret they cannot be
//! recomputed from the originals (a plain hash could be, by hashing guessed identifiers).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::DeidError;

/// The fewest secret bytes accepted: 128 bits.
pub const MIN_SECRET_LEN: usize = 16;

/// A project's de-identification secret. Its bytes are never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, DeidError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(DeidError::WeakSecret {
                len: bytes.len(),
                min: MIN_SECRET_LEN,
            });
        }
        Ok(Secret(bytes))
    }

    /// HMAC-SHA256 of `data` under this secret, separated per use by `domain` so that a UID
    /// and a patient ID with the same text never get related replacements.
    pub(crate) fn mac(&self, domain: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC accepts keys of any length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(matches!(
            Secret::new(b"short".to_vec()),
            Err(DeidError::WeakSecret { len: 5, .. })
        ));
        let secret = Secret::new(b"0123456789abcdef".to_vec()).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(16 bytes)");
    }

    #[test]
    fn domains_separate_the_same_data() {
        let secret = Secret::new(b"0123456789abcdef".to_vec()).unwrap();
        assert_ne!(secret.mac("uid", b"1.2.3"), secret.mac("patient", b"1.2.3"));
        assert_eq!(secret.mac("uid", b"1.2.3"), secret.mac("uid", b"1.2.3"));
    }
}
