//! The file meta information of Part 10 files (PS3.10 7.1): written in front of a data set
//! that arrived without one (a DIMSE C-STORE), and found again to send the data set alone.

/// Tessera's Implementation Class UID (a UUID-derived UID, PS3.5 B.2).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.89752666564431708880101119614560026800";
/// Tessera's Implementation Version Name (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = "TESSERA_0_1";

const PREAMBLE: usize = 128;
const MAGIC: &[u8; 4] = b"DICM";

/// The preamble, `DICM` and the meta group of a data set with these identifiers, in Explicit
/// VR Little Endian; `source_ae` is the AE title that sent it.
pub fn file_meta(
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    source_ae: Option<&str>,
) -> Vec<u8> {
    let mut group = Vec::with_capacity(256);
    // FileMetaInformationVersion: OB, 2 reserved bytes and a 4-byte length.
    group.extend_from_slice(&[
        0x02, 0x00, 0x01, 0x00, b'O', b'B', 0, 0, 2, 0, 0, 0, 0x00, 0x01,
    ]);
    short_element(&mut group, 0x0002, "UI", sop_class, 0);
    short_element(&mut group, 0x0003, "UI", sop_instance, 0);
    short_element(&mut group, 0x0010, "UI", transfer_syntax, 0);
    short_element(&mut group, 0x0012, "UI", IMPLEMENTATION_CLASS_UID, 0);
    short_element(&mut group, 0x0013, "SH", IMPLEMENTATION_VERSION_NAME, b' ');
    if let Some(ae) = source_ae.map(str::trim).filter(|ae| !ae.is_empty()) {
        short_element(&mut group, 0x0016, "AE", ae, b' ');
    }
    let mut out = vec![0u8; PREAMBLE];
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    out.extend_from_slice(&(group.len() as u32).to_le_bytes());
    out.extend_from_slice(&group);
    out
}

fn short_element(out: &mut Vec<u8>, element: u16, vr: &str, value: &str, pad: u8) {
    let mut bytes = value.as_bytes().to_vec();
    if bytes.len() % 2 == 1 {
        bytes.push(pad);
    }
    out.extend_from_slice(&0x0002u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(vr.as_bytes());
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(&bytes);
}

/// Where the data set starts in a Part 10 file that begins with `head`: `Ok(None)` when
/// `head` is too short to tell, an error when it is not a Part 10 file. Walks the meta
/// group's elements rather than trusting its group length alone, since some writers omit or
/// miscount it.
pub fn data_set_offset(head: &[u8]) -> Result<Option<usize>, String> {
    if head.len() < PREAMBLE + 4 {
        return Ok(None);
    }
    if &head[PREAMBLE..PREAMBLE + 4] != MAGIC {
        return Err("no DICM prefix after the preamble".into());
    }
    let mut at = PREAMBLE + 4;
    loop {
        let Some(header) = head.get(at..at + 8) else {
            return Ok(None);
        };
        let group = u16::from_le_bytes([header[0], header[1]]);
        if group != 0x0002 {
            return Ok(Some(at));
        }
        let vr = &header[4..6];
        let (len, header_len) = if matches!(vr, b"OB" | b"OW" | b"OF" | b"SQ" | b"UT" | b"UN") {
            let Some(long) = head.get(at + 8..at + 12) else {
                return Ok(None);
            };
            (
                u32::from_le_bytes([long[0], long[1], long[2], long[3]]) as usize,
                12,
            )
        } else {
            (u16::from_le_bytes([header[6], header[7]]) as usize, 8)
        };
        if len == u32::MAX as usize || len > 1 << 20 {
            return Err("a file meta element has an undefined or huge length".into());
        }
        at += header_len + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_written_is_found_again_and_parses() {
        let mut file = file_meta(
            "1.2.840.10008.5.1.4.1.1.7",
            "1.2.3.4",
            "1.2.840.10008.1.2.1",
            Some("CT1"),
        );
        let start = file.len();
        // A data set: PatientID "X " in explicit VR little endian.
        file.extend_from_slice(&[0x10, 0x00, 0x20, 0x00, b'L', b'O', 2, 0, b'X', b' ']);
        assert_eq!(data_set_offset(&file).unwrap(), Some(start));
        assert_eq!(data_set_offset(&file[..start - 3]).unwrap(), None);
        let object = dicom_object::from_reader(std::io::Cursor::new(&file[128..])).unwrap();
        assert_eq!(object.meta().media_storage_sop_instance_uid(), "1.2.3.4");
        assert_eq!(object.meta().transfer_syntax(), "1.2.840.10008.1.2.1");
        assert_eq!(
            object
                .meta()
                .source_application_entity_title
                .as_deref()
                .map(str::trim),
            Some("CT1")
        );
        assert_eq!(
            object
                .element(dicom_dictionary_std::tags::PATIENT_ID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim(),
            "X"
        );
    }

    #[test]
    fn not_part10_is_an_error() {
        assert!(data_set_offset(&[0u8; 200]).is_err());
        assert_eq!(data_set_offset(&[0u8; 10]).unwrap(), None);
    }
}
