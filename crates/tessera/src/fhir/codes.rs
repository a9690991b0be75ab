//! Code systems and the few DICOM → FHIR code mappings the ImagingStudy needs.

use serde_json::{json, Value};

pub const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const RFC3986: &str = "urn:ietf:rfc:3986";
pub const DICOM_UID: &str = "urn:dicom:uid";
pub const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
pub const DATA_ABSENT: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/// BodyPartExamined defined terms with their SNOMED CT codes (PS3.16 Annex L, codes as in
/// CID 4031 Common Anatomic Regions). Other values are kept as the display only.
const BODY_PARTS: &[(&str, &str, &str)] = &[
    ("ABDOMEN", "818981001", "Abdomen"),
    ("ABDOMENPELVIS", "818982008", "Abdomen and Pelvis"),
    ("ANKLE", "70258002", "Ankle joint"),
    ("BRAIN", "12738006", "Brain"),
    ("BREAST", "76752008", "Breast"),
    ("CHEST", "816094009", "Chest"),
    ("CHESTABDOMEN", "416550000", "Chest and Abdomen"),
    ("CHESTABDPELVIS", "416775004", "Chest, Abdomen and Pelvis"),
    ("CSPINE", "122494005", "Cervical spine"),
    ("ELBOW", "16953009", "Elbow joint"),
    ("FOOT", "56459004", "Foot"),
    ("HAND", "85562004", "Hand"),
    ("HEAD", "69536005", "Head"),
    ("HEADNECK", "774007", "Head and Neck"),
    ("HEART", "80891009", "Heart"),
    ("HIP", "29836001", "Hip"),
    ("KNEE", "72696002", "Knee"),
    ("LSPINE", "122496007", "Lumbar spine"),
    ("NECK", "45048000", "Neck"),
    ("PELVIS", "816092008", "Pelvis"),
    ("SHOULDER", "16982005", "Shoulder"),
    ("SKULL", "89546000", "Skull"),
    ("TSPINE", "122495006", "Thoracic spine"),
    ("WHOLEBODY", "38266002", "Entire body"),
    ("WRIST", "74670003", "Wrist joint"),
];

/// A BodyPartExamined value as a Coding: SNOMED CT where the defined term is known, else
/// the value as display only.
pub fn body_site(value: &str) -> Value {
    let key = value.trim().to_ascii_uppercase();
    match BODY_PARTS.iter().find(|(term, _, _)| *term == key) {
        Some((_, code, display)) => json!({ "system": SNOMED, "code": code, "display": display }),
        None => json!({ "display": value.trim() }),
    }
}

/// A Laterality value (R, L; also B for both) as a SNOMED CT Coding (the R4
/// bodysite-laterality value set); other values as display only.
pub fn laterality(value: &str) -> Value {
    match value.trim().to_ascii_uppercase().as_str() {
        "R" => json!({ "system": SNOMED, "code": "24028007", "display": "Right" }),
        "L" => json!({ "system": SNOMED, "code": "7771000", "display": "Left" }),
        "B" => json!({ "system": SNOMED, "code": "51440002", "display": "Right and left" }),
        other => json!({ "display": other }),
    }
}

/// A Modality value as a DICOM (DCM) Coding.
pub fn modality(code: &str) -> Value {
    json!({ "system": DCM, "code": code })
}

/// A Coding the data set has no value for (series.modality is required in R4).
pub fn absent_coding() -> Value {
    json!({ "extension": [{ "url": DATA_ABSENT, "valueCode": "unknown" }] })
}

/// A SOP Class UID as a Coding.
pub fn sop_class(uid: &str) -> Value {
    json!({ "system": RFC3986, "code": format!("urn:oid:{uid}") })
}

/// The identifier type "Accession ID".
pub fn accession_type() -> Value {
    json!({ "coding": [{ "system": V2_0203, "code": "ACSN" }] })
}
