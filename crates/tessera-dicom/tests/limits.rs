//! The deepest sequence nesting a configuration may allow parses, converts to DICOM JSON and
//! reads back within the stack of the threads that parse uploads; one level more is refused.

use tessera_dicom::limits::ParseLimits;

fn header(tag: (u16, u16), vr: &[u8; 2], len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    if tag.0 == 0xFFFE {
        out.extend_from_slice(&len.to_le_bytes());
    } else if vr == b"SQ" {
        out.extend_from_slice(b"SQ\0\0");
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        out.extend_from_slice(vr);
        out.extend_from_slice(&(len as u16).to_le_bytes());
    }
    out
}

fn element(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut out = header(tag, vr, value.len() as u32);
    out.extend_from_slice(value);
    out
}

/// An instance whose Content Sequence nests `levels` deep, with a code in the last item.
fn nested(levels: usize, defined: bool) -> Vec<u8> {
    let code = element((0x0008, 0x0100), b"SH", b"CODE");
    let sequences = if defined {
        let mut inner = code;
        for _ in 0..levels {
            let mut level = header((0x0040, 0xA730), b"SQ", inner.len() as u32 + 8);
            level.extend(header((0xFFFE, 0xE000), b"  ", inner.len() as u32));
            level.extend(inner);
            inner = level;
        }
        inner
    } else {
        let mut out = Vec::new();
        for _ in 0..levels {
            out.extend(header((0x0040, 0xA730), b"SQ", u32::MAX));
            out.extend(header((0xFFFE, 0xE000), b"  ", u32::MAX));
        }
        out.extend(code);
        for _ in 0..levels {
            out.extend(header((0xFFFE, 0xE00D), b"  ", 0));
            out.extend(header((0xFFFE, 0xE0DD), b"  ", 0));
        }
        out
    };
    let mut file = tessera_dicom::part10::file_meta(
        "1.2.840.10008.5.1.4.1.1.88.11",
        "1.2.3.4.5",
        "1.2.840.10008.1.2.1",
        None,
    );
    for (tag, value) in [
        ((0x0008, 0x0016), &b"1.2.840.10008.5.1.4.1.1.88.11\0"[..]),
        ((0x0008, 0x0018), b"1.2.3.4.5\0"),
        ((0x0020, 0x000D), b"1.2.3.4\0"),
        ((0x0020, 0x000E), b"1.2.3.4.1\0"),
    ] {
        file.extend(element(tag, b"UI", value));
    }
    file.extend(sequences);
    file
}

#[test]
fn deepest_nesting_allowed_fits_the_stack() {
    let limits = ParseLimits::with_sequence_depth(ParseLimits::MAX_SEQUENCE_DEPTH);
    for defined in [false, true] {
        let file = nested(ParseLimits::MAX_SEQUENCE_DEPTH, defined);
        let worked = std::thread::Builder::new()
            .stack_size(3 << 19)
            .spawn(move || {
                let parsed = tessera_dicom::extract::parse_with(&file, &limits).unwrap();
                let metadata = parsed.extract().unwrap().metadata;
                tessera_dicom::json::read_stored(&metadata).unwrap()
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(worked.get("0040A730").is_some());
        // One level more is refused before dicom-rs reads it.
        let deeper = nested(ParseLimits::MAX_SEQUENCE_DEPTH + 1, defined);
        let err = tessera_dicom::extract::parse_with(&deeper, &limits)
            .err()
            .unwrap();
        assert!(err.to_string().contains("more than 128 levels"), "{err}");
    }
}
