//! The one Endpoint every ImagingStudy points to: this server's DICOMweb root (WADO-RS).

use serde_json::{json, Value};

/// The fixed id of Tessera's Endpoint resource.
pub const ENDPOINT_ID: &str = "tessera-dicomweb";

const CONNECTION_TYPES: &str = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type";

/// The Endpoint with `base` (scheme, host, port; no trailing slash) + `/dicom-web` as address.
pub fn endpoint(base: &str) -> Value {
    endpoint_at(&format!("{}/dicom-web", base.trim_end_matches('/')))
}

/// The Endpoint of a DICOMweb root: `{base}/dicom-web`, or a partition's
/// `{base}/dicom-web/partitions/{name}` (what a partition's ImagingStudy resources point at).
pub fn endpoint_at(root: &str) -> Value {
    json!({
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "status": "active",
        "connectionType": { "system": CONNECTION_TYPES, "code": "dicom-wado-rs" },
        "name": "Tessera DICOMweb (WADO-RS)",
        "payloadType": [{ "text": "DICOM" }],
        "payloadMimeType": ["application/dicom"],
        "address": root.trim_end_matches('/'),
    })
}
