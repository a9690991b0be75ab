//! Helpers shared by the de-identification tests.

use dicom_core::Tag;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use tessera_dicom::deid::Secret;

/// A secret made of one repeated byte.
pub fn secret(byte: u8) -> Secret {
    Secret::new(vec![byte; 32]).unwrap()
}

/// Parse a whole Part 10 file (pixel data included) with dicom-rs.
pub fn open(bytes: &[u8]) -> DefaultDicomObject {
    let start = if bytes.len() > 132 && &bytes[128..132] == b"DICM" {
        128
    } else {
        0
    };
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(&bytes[start..])
        .expect("the file parses")
}

/// A text value, trimmed; `None` when absent or not text.
pub fn element_text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = object.get(tag)?.to_str().ok()?;
    Some(
        value
            .trim_matches(|c: char| c == ' ' || c == '\0')
            .to_string(),
    )
}
