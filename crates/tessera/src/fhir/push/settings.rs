//! Where and how ImagingStudy resources are pushed.

/// How Tessera authenticates to the FHIR server it pushes to (from the environment only).
#[derive(Clone, PartialEq, Eq)]
pub enum FhirAuth {
    Bearer(String),
    Basic { username: String, password: String },
}

impl std::fmt::Debug for FhirAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FhirAuth::Bearer(_) => f.write_str("Bearer(***)"),
            FhirAuth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

impl FhirAuth {
    /// Credentials from the environment (never from flags or the file, which others may
    /// read): `TESSERA_FHIR_BEARER_TOKEN`, or `TESSERA_FHIR_USERNAME` and
    /// `TESSERA_FHIR_PASSWORD`.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(token) = var("TESSERA_FHIR_BEARER_TOKEN") {
            return Some(FhirAuth::Bearer(token));
        }
        match (var("TESSERA_FHIR_USERNAME"), var("TESSERA_FHIR_PASSWORD")) {
            (Some(username), Some(password)) => Some(FhirAuth::Basic { username, password }),
            _ => None,
        }
    }
}

/// Where and how ImagingStudy resources are pushed.
#[derive(Debug, Clone)]
pub struct FhirPushSettings {
    /// The server's base URL, without a trailing slash.
    pub url: String,
    pub auth: Option<FhirAuth>,
    pub create_patients: bool,
}
