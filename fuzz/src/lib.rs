//! The entry functions of the libFuzzer targets (one per parser of untrusted input, issue 17),
//! shared with the stable replay of the kept corpus (tests/fuzz_corpus.rs includes this file):
//! each takes arbitrary bytes, runs the parser as the server does, and panics only where the
//! answer breaks a promise (a range outside the value, a frame outside the file, a query
//! error naming no parameter, a refusal without a reason). An error answer is fine.

use std::sync::OnceLock;

use bytes::Bytes;

/// A target's entry: arbitrary bytes in, a panic only where a promise is broken.
pub type Entry = fn(&[u8]);

/// The targets, by the name of their folder in fuzz/corpus/.
pub const TARGETS: [(&str, Entry); 7] = [
    ("multipart", multipart),
    ("accept", accept),
    ("range", range),
    ("qido_query", qido_query),
    ("part10", part10),
    ("charset", charset),
    ("dicom_json", dicom_json),
];

/// The multipart reader of STOW-RS (`http::stow_body`): the first byte sizes the pieces the
/// body arrives in (a boundary split across two is the reader's hard case), the text up to
/// the first newline is the Content-Type, the rest the body.
pub fn multipart(data: &[u8]) {
    use tessera::http::stow_body::{body_kind, BodyKind, PartLimits, Parts};
    let Some((&piece, rest)) = data.split_first() else {
        return;
    };
    let newline = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let content_type = String::from_utf8_lossy(&rest[..newline]).into_owned();
    let body = rest.get(newline + 1..).unwrap_or_default();
    let Ok(BodyKind::Multipart { boundary }) = body_kind(Some(&content_type)) else {
        return;
    };
    let limits = PartLimits {
        request_bytes: 64 << 10,
        part_bytes: 16 << 10,
        parts: 8,
    };
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(usize::from(piece.max(1)))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut parts = Parts::new(futures::stream::iter(pieces), boundary, limits);
    futures::executor::block_on(async {
        let mut count = 0;
        let mut total = 0u64;
        loop {
            let mut part = match parts.next().await {
                Ok(Some(part)) => part,
                Ok(None) => break,
                Err(err) => {
                    assert!(!err.to_string().is_empty());
                    break;
                }
            };
            count += 1;
            assert!(count <= limits.parts, "part {count} read beyond the limit");
            let mut size = 0u64;
            loop {
                match part.chunk().await {
                    Ok(Some(chunk)) => size += chunk.len() as u64,
                    Ok(None) => break,
                    Err(err) => {
                        assert!(!err.to_string().is_empty());
                        return;
                    }
                }
            }
            assert!(size <= limits.part_bytes, "a part of {size} bytes passed");
            total += size;
            assert!(total <= limits.request_bytes, "{total} bytes passed");
        }
    });
}

/// The Accept negotiation of WADO-RS (header and `accept` query parameter) and the media
/// type parser under it: ranges in order of quality, none refused.
pub fn accept(data: &[u8]) {
    use tessera::http::accept::wanted_from;
    use tessera::http::media::{accept_ranges, MediaType};
    let text = String::from_utf8_lossy(data);
    if let Some(media) = MediaType::parse(&text) {
        let (kind, subtype) = media.essence.split_once('/').expect("type/subtype");
        assert!(!kind.is_empty() && !subtype.is_empty());
        assert_eq!(media.essence, media.essence.to_ascii_lowercase());
    }
    let q = |m: &MediaType| {
        m.param("q")
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0)
    };
    let ranges = accept_ranges(&text);
    for pair in ranges.windows(2) {
        assert!(q(&pair[0]) >= q(&pair[1]), "{text:?}");
    }
    assert!(ranges.iter().all(|m| q(m) > 0.0));
    let mut headers = axum::http::HeaderMap::new();
    if let Ok(value) = axum::http::HeaderValue::from_bytes(data) {
        headers.insert(axum::http::header::ACCEPT, value);
    }
    assert!(!wanted_from(&headers, None).is_empty());
    assert!(!wanted_from(&headers, Some(&text)).is_empty());
}

/// The Range parser of bulk data: the first 8 bytes are the value's length, the rest the
/// header; a partial answer lies inside the value.
pub fn range(data: &[u8]) {
    use tessera::http::range::{parse, RangeRequest};
    let (length, header) = match data.split_first_chunk::<8>() {
        Some((length, header)) => (u64::from_le_bytes(*length), header),
        None => (data.len() as u64, data),
    };
    let header = String::from_utf8_lossy(header);
    if let RangeRequest::Partial(range) = parse(Some(&header), length) {
        assert!(range.start < range.end, "{header:?}: {range:?}");
        assert!(range.end <= length, "{header:?}: {range:?} past {length}");
    }
}

/// The QIDO-RS query parser: the bytes are a query string, decoded as the handlers decode it,
/// parsed at every level with and without extra query attributes; an error names one of the
/// parameters.
pub fn qido_query(data: &[u8]) {
    use tessera::http::path::query_pairs;
    use tessera::query::parse::parse;
    use tessera::query::{Level, Limits};
    use tessera_dicom::uid::{SeriesUid, StudyUid};
    static EXTRAS: OnceLock<Vec<tessera::query::extra::ExtraAttribute>> = OnceLock::new();
    let extras = EXTRAS.get_or_init(|| {
        tessera::query::extra::parse_config(&[
            "series:StationName".to_string(),
            "instance:AcquisitionDateTime".to_string(),
            "study:OtherPatientIDs".to_string(),
        ])
        .expect("valid extra attributes")
    });
    let limits = Limits {
        default_limit: 100,
        max_limit: 1000,
    };
    let text = String::from_utf8_lossy(data);
    let pairs = query_pairs(Some(&text));
    let study = StudyUid::parse("1.2.3").ok();
    let series = SeriesUid::parse("1.2.3.4").ok();
    for (level, extras) in [
        (Level::Study, &extras[..]),
        (Level::Series, &[][..]),
        (Level::Instance, &extras[..]),
    ] {
        for (study, series) in [(None, None), (study.clone(), series.clone())] {
            match parse(level, study, series, &pairs, extras, limits) {
                Ok(query) => {
                    assert!(query.limit >= 1 && query.limit <= limits.max_limit);
                    let _ = query.fragment_levels();
                    let _ = query.extra_columns();
                    let _ = query.needs_metadata();
                }
                Err(err) => {
                    assert!(!err.reason.is_empty(), "{err:?}");
                    let named = pairs.iter().any(|(name, _)| *name == err.parameter)
                        || ["includefield", "limit", "offset", "fuzzymatching"]
                            .contains(&err.parameter.as_str());
                    assert!(named, "{err:?} names no parameter of {pairs:?}");
                }
            }
        }
    }
}

/// Transfer syntaxes a generated file meta group may name.
const TRANSFER_SYNTAXES: [&str; 6] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.5",
];

/// A Part 10 file from fuzz input: with the first byte odd, the rest after a valid file meta
/// group of the transfer syntax the second byte picks (so that mutations go to the data
/// set); else the rest as it is.
fn part10_file(data: &[u8]) -> Vec<u8> {
    match data {
        [mode, ts, rest @ ..] if mode & 1 == 1 => {
            let ts = TRANSFER_SYNTAXES[usize::from(*ts) % TRANSFER_SYNTAXES.len()];
            let mut file = tessera_dicom::part10::file_meta("1.2.3", "1.2.3.4", ts, None);
            file.extend_from_slice(rest);
            file
        }
        [_, rest @ ..] => rest.to_vec(),
        [] => Vec::new(),
    }
}

fn inside(ranges: &[(u64, u64)], len: u64) {
    for &(offset, size) in ranges {
        let end = offset.checked_add(size).expect("range end overflows");
        assert!(end <= len, "range {offset}+{size} past {len}");
    }
}

/// The Part 10 layout walk and the frame locator: everything located lies inside the file.
pub fn part10(data: &[u8]) {
    use tessera_dicom::layout::{self, PixelDataLayout};
    use tessera_dicom::limits::ParseLimits;
    let file = part10_file(data);
    let len = file.len() as u64;
    let _ = layout::walk_with(&file, &ParseLimits::with_sequence_depth(2));
    let Ok(walked) = layout::walk(&file) else {
        return;
    };
    assert!(walked.dataset_offset <= len);
    for element in walked.meta.iter().chain(&walked.elements) {
        assert!(element.value_offset <= len);
        if let Some(length) = element.value_length {
            inside(&[(element.value_offset, length)], len);
        }
    }
    match &walked.pixel_data {
        Some(PixelDataLayout::Native {
            value_offset,
            length,
        }) => inside(&[(*value_offset, *length)], len),
        Some(PixelDataLayout::Encapsulated { fragments, .. }) => {
            for fragment in fragments {
                inside(&[(fragment.item_offset, 8 + fragment.length)], len);
            }
        }
        None => {}
    }
    let frames = layout::number_of_frames(&walked, &file).unwrap_or(1);
    let native = layout::native_frame_length(&walked, &file).ok();
    for (count, frame_length) in [(frames, native), (1, None), (frames.min(3), Some(2))] {
        if let Ok(ranges) = layout::frame_ranges(&walked, &file, count, frame_length) {
            assert_eq!(ranges.len(), count as usize);
            for frame in &ranges {
                inside(frame, len);
            }
        }
    }
}

/// The character set decoder: the first byte is the length of the Specific Character Set
/// value that follows, the next picks a VR, the rest is the text to decode; whatever it is,
/// the decoder gives text, never a panic.
pub fn charset(data: &[u8]) {
    use tessera_dicom::charset::CharacterSets;
    const VRS: [[u8; 2]; 8] = [
        *b"PN", *b"LO", *b"SH", *b"ST", *b"LT", *b"UT", *b"UC", *b"CS",
    ];
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (spec, rest) = rest.split_at(n);
    let Some((&vr, text)) = rest.split_first() else {
        return;
    };
    let vr = VRS[usize::from(vr) % VRS.len()];
    let sets = CharacterSets::parse(spec).unwrap_or_else(|_| CharacterSets::default_repertoire());
    let decoded = sets.decode(text, vr);
    // Output is bounded by the input: no decoder expands a byte into more than a few chars.
    assert!(
        decoded.chars().count() <= text.len() * 4 + 4,
        "{spec:?} {text:?}"
    );
    let _ = CharacterSets::default_repertoire().decode(text, vr);
    if vr == *b"PN" {
        let _ = tessera_dicom::json::person_name(&decoded);
    }
}

/// What ingest does with a file (parse, extract, the DICOM JSON written and read back, the
/// XML written from it), on a thread with the 2 MiB stack of the server's parsing threads:
/// a refusal carries a STOW failure reason and a message; frame ranges lie inside the file.
pub fn dicom_json(data: &[u8]) {
    let file = part10_file(data);
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || ingest(&file))
        .expect("a thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

fn ingest(file: &[u8]) {
    use tessera_dicom::status::StatusCode;
    let refused = |err: tessera_dicom::error::DicomError| {
        let reason = err.failure_reason();
        assert!(
            [
                StatusCode::CANNOT_UNDERSTAND,
                StatusCode::DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
                StatusCode::TRANSFER_SYNTAX_NOT_SUPPORTED,
            ]
            .contains(&reason),
            "{err:?}"
        );
        assert!(!err.to_string().is_empty());
    };
    let parsed = match tessera_dicom::extract::parse(file) {
        Ok(parsed) => parsed,
        Err(err) => return refused(err),
    };
    let extracted = match parsed.extract() {
        Ok(extracted) => extracted,
        Err(err) => return refused(err),
    };
    let len = file.len() as u64;
    for frame in extracted.frames.iter().flatten() {
        inside(frame, len);
    }
    let stored = tessera_dicom::json::read_stored(&extracted.metadata)
        .expect("the metadata written is read back");
    let serde_json::Value::Object(map) = stored else {
        panic!("the metadata is not an object");
    };
    let xml = tessera_dicom::xml::native_dicom_model(&map);
    assert!(xml.ends_with("</NativeDicomModel>\n") || xml.contains("NativeDicomModel"));
}
