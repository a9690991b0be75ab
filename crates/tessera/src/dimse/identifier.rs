//! Identifiers (the data sets of C-FIND, C-MOVE and C-GET, PS3.4 C.4) read from and written to
//! the bytes of a presentation context's transfer syntax. Answers are written in UTF-8
//! (SpecificCharacterSet ISO_IR 192), as QIDO answers are.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Query/Retrieve levels (PS3.4 C.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QrLevel {
    Patient,
    Study,
    Series,
    Image,
}

impl QrLevel {
    pub fn name(self) -> &'static str {
        match self {
            QrLevel::Patient => "PATIENT",
            QrLevel::Study => "STUDY",
            QrLevel::Series => "SERIES",
            QrLevel::Image => "IMAGE",
        }
    }
}

/// Read a data set sent on a presentation context of this transfer syntax.
pub fn read(bytes: &[u8], transfer_syntax: &str) -> Result<InMemDicomObject, String> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax.trim_end_matches('\0'))
        .ok_or_else(|| format!("unknown transfer syntax {transfer_syntax}"))?;
    InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| format!("unreadable identifier: {e}"))
}

/// Write a data set for a presentation context of this transfer syntax, text in UTF-8.
pub fn write(object: &InMemDicomObject, transfer_syntax: &str) -> Result<Vec<u8>, String> {
    let ts = TransferSyntaxRegistry
        .get(transfer_syntax.trim_end_matches('\0'))
        .ok_or_else(|| format!("unknown transfer syntax {transfer_syntax}"))?;
    let mut out = Vec::with_capacity(512);
    object
        .write_dataset_with_ts_cs(&mut out, ts, SpecificCharacterSet::ISO_IR_192)
        .map_err(|e| format!("cannot write a data set: {e}"))?;
    Ok(out)
}

/// An element's values as text, joined by backslashes, padding trimmed; empty when absent
/// or zero length.
pub fn text(object: &InMemDicomObject, tag: Tag) -> String {
    match object.element_opt(tag) {
        Ok(Some(element)) => match element.value().to_multi_str() {
            Ok(values) => values
                .iter()
                .map(|v| v.trim_matches(|c: char| c == ' ' || c == '\0'))
                .collect::<Vec<_>>()
                .join("\\"),
            Err(_) => String::new(),
        },
        _ => String::new(),
    }
}

/// The values of a UID key (a single UID or a list).
pub fn uids(object: &InMemDicomObject, tag: Tag) -> Vec<String> {
    text(object, tag)
        .split('\\')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// The QueryRetrieveLevel of an identifier.
pub fn level(object: &InMemDicomObject) -> Result<QrLevel, String> {
    match text(object, tags::QUERY_RETRIEVE_LEVEL)
        .to_ascii_uppercase()
        .as_str()
    {
        "PATIENT" => Ok(QrLevel::Patient),
        "STUDY" => Ok(QrLevel::Study),
        "SERIES" => Ok(QrLevel::Series),
        "IMAGE" => Ok(QrLevel::Image),
        "" => Err("the identifier has no QueryRetrieveLevel".into()),
        other => Err(format!(
            "QueryRetrieveLevel {other:?} is not PATIENT, STUDY, SERIES or IMAGE"
        )),
    }
}

/// A text element (AE, CS, UI, LO ...).
pub fn text_element(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// A list of UIDs (FailedSOPInstanceUIDList).
pub fn uid_list(tag: Tag, values: &[String]) -> DataElement<InMemDicomObject> {
    DataElement::new(
        tag,
        VR::UI,
        PrimitiveValue::Strs(values.iter().cloned().collect()),
    )
}
