//! OperationOutcome: how every FHIR error is answered.

use serde_json::{json, Value};

/// An OperationOutcome with one issue of severity `error`; `code` is from FHIR's
/// issue-type value set (`not-found`, `invalid`, `not-supported`, `processing`, ...).
pub fn error(code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }],
    })
}
