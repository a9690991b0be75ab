//! What a file is, by its content rather than its name: a Part 10 file ("DICM" after the
//! 128-byte preamble, or at the start), a DICOMDIR (a Part 10 file of the Media Storage
//! Directory class), a zip file, a raw data set written without file meta information, or
//! something else. And the UIDs of an instance, found by walking its top-level elements.

use tessera_dicom::layout::{self, Part10Layout};
use tessera_dicom::part10;

/// Bytes read from the start of a file to tell what it is.
pub const HEAD: usize = 1024;

/// The Media Storage Directory Storage SOP class of a DICOMDIR (PS3.10 8.6).
pub const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A DICOM Part 10 file (with or without the preamble).
    Part10,
    /// Perhaps a data set without file meta information: decided once it is read whole.
    RawDataSet,
    /// A DICOMDIR: the files it references are the instances.
    Dicomdir,
    /// A zip file.
    Zip,
    /// Not DICOM: why, in a few words.
    NotDicom(&'static str),
}

/// What the file starting with `head` (its first [`HEAD`] bytes, or all of it) is.
pub fn classify(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::NotDicom("an empty file");
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    let meta_start = if head.get(128..132) == Some(b"DICM".as_slice()) {
        Some(132)
    } else if head.starts_with(b"DICM") {
        Some(4)
    } else {
        None
    };
    if let Some(start) = meta_start {
        return match meta_value(head, start, 0x0002) {
            Some(class) if class == MEDIA_STORAGE_DIRECTORY => Kind::Dicomdir,
            _ => Kind::Part10,
        };
    }
    if looks_like_raw_data_set(head) {
        return Kind::RawDataSet;
    }
    Kind::NotDicom("no DICM prefix and not a DICOM data set")
}

/// A data set without preamble or meta group starts with a group 0008 element (Specific
/// Character Set, Image Type, SOP Class UID...) in implicit or explicit VR little endian
/// with a plausible length. Decided for good by walking the whole file
/// ([`wrap_raw_data_set`]).
fn looks_like_raw_data_set(head: &[u8]) -> bool {
    let Some(header) = head.get(..8) else {
        return false;
    };
    let group = u16::from_le_bytes([header[0], header[1]]);
    let element = u16::from_le_bytes([header[2], header[3]]);
    if group != 0x0008 || element > 0x00FF {
        return false;
    }
    if is_vr(&header[4..6]) {
        return true;
    }
    let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    length < 1024 && length % 2 == 0
}

fn is_vr(bytes: &[u8]) -> bool {
    const VRS: [&[u8; 2]; 34] = [
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
        b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
        b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
    ];
    VRS.iter().any(|vr| vr.as_slice() == bytes)
}

/// The value of the meta group element (0002,`element`) of a Part 10 file whose meta group
/// starts at `at`, as text, if it lies within `head`.
fn meta_value(head: &[u8], mut at: usize, element: u16) -> Option<String> {
    loop {
        let header = head.get(at..at + 8)?;
        let group = u16::from_le_bytes([header[0], header[1]]);
        if group != 0x0002 {
            return None;
        }
        let this = u16::from_le_bytes([header[2], header[3]]);
        let long = matches!(
            &header[4..6],
            b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"UC" | b"UN" | b"UR" | b"UT"
        );
        let (length, value_at) = if long {
            let raw = head.get(at + 8..at + 12)?;
            (
                u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize,
                at + 12,
            )
        } else {
            (u16::from_le_bytes([header[6], header[7]]) as usize, at + 8)
        };
        let end = value_at.checked_add(length)?;
        if this == element {
            return Some(text(head.get(value_at..end)?));
        }
        at = end;
    }
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .trim_matches(|c: char| c == '\0' || c == ' ')
        .to_string()
}

/// An instance's UIDs as found before it is parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Uids {
    pub sop: Option<String>,
    pub study: Option<String>,
    /// Whether the whole file walked and its data set has a SOP Instance UID (else the UID is
    /// the meta group's): only then is it looked up among the stored instances, so that a
    /// file that failed once fails again rather than passing for the instance it names.
    pub walked: bool,
}

/// The SOP Instance UID and Study Instance UID of a Part 10 file, as far as its layout can
/// be walked (the meta group's Media Storage SOP Instance UID when the data set has none or
/// cannot be walked).
pub fn uids(bytes: &[u8]) -> Uids {
    let walked = layout::walk(bytes).ok();
    let value = |layout: &Part10Layout, tag: (u16, u16)| {
        layout::find_element(layout, tag)
            .and_then(|e| layout::element_value(bytes, e))
            .map(text)
            .filter(|v| !v.is_empty())
    };
    let sop = walked.as_ref().and_then(|l| value(l, (0x0008, 0x0018)));
    let study = walked.as_ref().and_then(|l| value(l, (0x0020, 0x000D)));
    match sop {
        Some(sop) => Uids {
            sop: Some(sop),
            study,
            walked: true,
        },
        None => {
            let start = if bytes.get(128..132) == Some(b"DICM".as_slice()) {
                132
            } else {
                4
            };
            Uids {
                sop: meta_value(bytes, start, 0x0003),
                study,
                walked: false,
            }
        }
    }
}

/// A raw data set made a Part 10 file: file meta information (PS3.10 7.1) written in front
/// of it, with its own SOP Class and Instance UIDs and the transfer syntax its first element
/// shows (explicit or implicit VR little endian); as DIMSE C-STORE data sets are stored.
/// `None` when the bytes do not walk as a data set with both UIDs: then it is not DICOM.
pub fn wrap_raw_data_set(data: &[u8]) -> Option<(Vec<u8>, Option<String>, Option<String>)> {
    let syntax = if data.get(4..6).is_some_and(is_vr) {
        EXPLICIT_LE
    } else {
        IMPLICIT_LE
    };
    let mut trial = part10::file_meta("1.2", "1.2", syntax, None);
    let meta_len = trial.len();
    trial.extend_from_slice(data);
    let layout = layout::walk(&trial).ok()?;
    let value = |tag: (u16, u16)| {
        layout::find_element(&layout, tag)
            .and_then(|e| layout::element_value(&trial, e))
            .map(text)
            .filter(|v| !v.is_empty())
    };
    let class = value((0x0008, 0x0016))?;
    let sop = value((0x0008, 0x0018))?;
    let study = value((0x0020, 0x000D));
    let mut file = part10::file_meta(&class, &sop, syntax, None);
    file.extend_from_slice(&trial[meta_len..]);
    Some((file, Some(sop), study))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_not_the_name() {
        let mut part10 = vec![0u8; 128];
        part10.extend_from_slice(b"DICM");
        assert_eq!(classify(&part10), Kind::Part10);
        assert_eq!(classify(b"DICM\x02\x00"), Kind::Part10);
        assert_eq!(classify(b"PK\x03\x04rest"), Kind::Zip);
        assert_eq!(classify(b"PK\x05\x06"), Kind::Zip);
        assert!(matches!(classify(b"# README\n"), Kind::NotDicom(_)));
        assert!(matches!(
            classify(b"\xFF\xD8\xFF\xE0JFIF"),
            Kind::NotDicom(_)
        ));
        assert!(matches!(classify(b""), Kind::NotDicom(_)));
        // (0008,0005) CS in explicit VR, and (0008,0016) in implicit VR with length 26.
        assert_eq!(classify(b"\x08\x00\x05\x00CS\x0a\x00"), Kind::RawDataSet);
        assert_eq!(
            classify(b"\x08\x00\x16\x00\x1a\x00\x00\x00"),
            Kind::RawDataSet
        );
    }

    #[test]
    fn a_dicomdir_is_told_by_its_media_storage_class() {
        let mut file = part10::file_meta(MEDIA_STORAGE_DIRECTORY, "1.2.3", EXPLICIT_LE, None);
        assert_eq!(classify(&file), Kind::Dicomdir);
        file = part10::file_meta("1.2.840.10008.5.1.4.1.1.2", "1.2.3", EXPLICIT_LE, None);
        assert_eq!(classify(&file), Kind::Part10);
    }

    #[test]
    fn a_raw_data_set_gets_file_meta_information() {
        let element = |group: u16, element: u16, value: &str| {
            let mut out = Vec::new();
            out.extend_from_slice(&group.to_le_bytes());
            out.extend_from_slice(&element.to_le_bytes());
            let mut value = value.as_bytes().to_vec();
            if value.len() % 2 == 1 {
                value.push(0);
            }
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(&value);
            out
        };
        let mut data = element(0x0008, 0x0016, "1.2.840.10008.5.1.4.1.1.7");
        data.extend(element(0x0008, 0x0018, "1.2.3.4"));
        data.extend(element(0x0020, 0x000D, "1.2.3"));
        assert_eq!(classify(&data), Kind::RawDataSet);
        let (file, sop, study) = wrap_raw_data_set(&data).unwrap();
        assert_eq!(sop.as_deref(), Some("1.2.3.4"));
        assert_eq!(study.as_deref(), Some("1.2.3"));
        assert!(file.ends_with(&data));
        assert_eq!(classify(&file), Kind::Part10);
        let found = uids(&file);
        assert_eq!((found.sop, found.study, found.walked), (sop, study, true));
        let truncated = uids(&file[..file.len() - 3]);
        assert_eq!(truncated.sop.as_deref(), Some("1.2.3.4"));
        assert!(!truncated.walked);
        assert!(wrap_raw_data_set(b"\x08\x00\x16\x00\xff\xff\x00\x00junk").is_none());
    }
}
