//! Pseudonyms for Patient ID (0010,0020) and Patient's Name (0010,0010): the table asks for
//! an empty or dummy value (Z/D, Z); Tessera fills in a dummy derived from the keyed hash of
//! the patient, so every instance of one patient gets the same pseudonym in every run with
//! the same secret, and instances of different patients stay apart.
//!
//! The patient is known by the original Patient ID; without one, by the original Patient's
//! Name; without either, all such instances share one pseudonym.

use super::key::Secret;

const DOMAIN: &str = "tessera-deid-patient";

/// How the patient of a data set is known, before de-identification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PatientKey(String);

impl PatientKey {
    pub fn new(patient_id: Option<&str>, patient_name: Option<&str>) -> PatientKey {
        let clean = |v: Option<&str>| {
            v.map(|v| v.trim_matches(|c: char| c == ' ' || c == '\0'))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        PatientKey(match (clean(patient_id), clean(patient_name)) {
            (Some(id), _) => format!("id:{id}"),
            (None, Some(name)) => format!("name:{name}"),
            (None, None) => "unknown".to_string(),
        })
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn tag(secret: &Secret, patient: &PatientKey) -> String {
    let mac = secret.mac(DOMAIN, patient.as_bytes());
    mac[..10].iter().map(|b| format!("{b:02X}")).collect()
}

/// The pseudonymous Patient ID: `ANON-` and 20 hexadecimal digits (80 bits of the hash).
pub fn patient_id(secret: &Secret, patient: &PatientKey) -> String {
    format!("ANON-{}", tag(secret, patient))
}

/// The pseudonymous Patient's Name: family name `ANON`, given name the same 20 digits.
pub fn patient_name(secret: &Secret, patient: &PatientKey) -> String {
    format!("ANON^{}", tag(secret, patient))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_patient_one_pseudonym_per_secret() {
        let secret = Secret::new(vec![9; 16]).unwrap();
        let other = Secret::new(vec![8; 16]).unwrap();
        let a = PatientKey::new(Some("12345 "), Some("DOE^JOHN"));
        let same = PatientKey::new(Some("12345"), Some("DOE^J"));
        let b = PatientKey::new(Some("54321"), None);
        assert_eq!(patient_id(&secret, &a), patient_id(&secret, &same));
        assert_ne!(patient_id(&secret, &a), patient_id(&secret, &b));
        assert_ne!(patient_id(&secret, &a), patient_id(&other, &a));
        let id = patient_id(&secret, &a);
        assert!(id.starts_with("ANON-") && id.len() == 25, "{id}");
        assert_eq!(&patient_name(&secret, &a)[5..], &id[5..]);
    }

    #[test]
    fn without_an_id_the_name_keys_the_patient() {
        assert_eq!(
            PatientKey::new(Some(""), Some("DOE^JOHN")),
            PatientKey::new(None, Some("DOE^JOHN "))
        );
        assert_ne!(
            PatientKey::new(None, Some("DOE^JOHN")),
            PatientKey::new(None, None)
        );
    }
}
