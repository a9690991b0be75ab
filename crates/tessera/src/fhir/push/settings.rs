//! Where and how ImagingStudy resources are pushed.

/// How Tessera authenticates to the FHIR server it pushes to (config reads it from the
/// environment only).
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

/// Where and how ImagingStudy resources are pushed.
#[derive(Debug, Clone)]
pub struct FhirPushSettings {
    /// The server's base URL, without a trailing slash.
    pub url: String,
    pub auth: Option<FhirAuth>,
    pub create_patients: bool,
}
