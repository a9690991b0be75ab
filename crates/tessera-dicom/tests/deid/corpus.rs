//! De-identification over real files: the repository's testdata and pydicom's test corpus
//! (read from where pydicom is installed; scripts/test.sh installs it, so a missing corpus
//! fails). Each output must parse (dicom-rs here, pydicom and dcmtk's dcmdump in
//! `external.rs`), keep its pixel data bytes, carry none of the original patient's name or ID,
//! and come out the same in a second run.

use std::path::{Path, PathBuf};

use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use tessera_dicom::deid::{
    DeidError, Deidentifier, Options, PixelPolicy, Profile, Secret, DUMMY_TEXT,
};
use tessera_dicom::layout::{self, PixelDataLayout};

use super::support::{element_text, open, secret};

/// The corpus files: testdata/*.dcm and pydicom's test_files and charset_files.
pub fn corpus() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut dirs = vec![repo];
    let pydicom = pydicom_data_dir();
    dirs.push(pydicom.join("test_files"));
    dirs.push(pydicom.join("charset_files"));
    let mut files = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "dcm") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Where pydicom keeps its data; panics (a failure, not a skip) when pydicom is missing.
pub fn pydicom_data_dir() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import pydicom.data, os; print(os.path.dirname(pydicom.data.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pydicom is not installed (scripts/test.sh installs scripts/test/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Everything from the Pixel Data element's header to the end of its value, as stored.
pub fn raw_pixel_data(bytes: &[u8]) -> Option<Vec<u8>> {
    let layout = layout::walk(bytes).ok()?;
    let element = layout.elements.iter().find(|e| e.tag == (0x7FE0, 0x0010))?;
    let start = element.value_offset as usize;
    let end = match layout.pixel_data.as_ref()? {
        PixelDataLayout::Native {
            value_offset,
            length,
        } => (*value_offset + *length) as usize,
        PixelDataLayout::Encapsulated { fragments, .. } => {
            let last = fragments.last()?;
            (last.value_offset + last.length) as usize
        }
    };
    Some(bytes[start..end].to_vec())
}

/// The de-identifier the corpus runs under: every option that keeps data off, burned-in
/// text allowed (secondary captures and ultrasound are in the corpus).
pub fn corpus_deidentifier(secret: Secret) -> Deidentifier {
    Deidentifier::new(Profile {
        options: Options::default(),
        secret,
        pixels: PixelPolicy {
            allow_burned_in_text: true,
            allow_recognizable_features: true,
            masks: Vec::new(),
        },
    })
}

/// A de-identified corpus file.
pub struct Done {
    pub input: PathBuf,
    pub output: Vec<u8>,
}

/// De-identify the whole corpus; files the parser refuses are listed, not failed.
pub fn run_corpus(deid: &Deidentifier) -> (Vec<Done>, Vec<(PathBuf, String)>) {
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for path in corpus() {
        let bytes = std::fs::read(&path).unwrap();
        match deid.deidentify(&bytes) {
            Ok(outcome) => done.push(Done {
                input: path,
                output: outcome.part10,
            }),
            Err(DeidError::Unreadable(err)) => refused.push((path, err.to_string())),
            Err(other) => panic!("{}: {other}", path.display()),
        }
    }
    (done, refused)
}

#[test]
fn the_corpus_is_deidentified_with_pixels_intact_and_identities_gone() {
    let deid = corpus_deidentifier(secret(1));
    let (done, refused) = run_corpus(&deid);
    for (path, why) in &refused {
        eprintln!("refused by the parser: {}: {why}", path.display());
    }
    assert!(done.len() >= 100, "only {} files de-identified", done.len());
    assert!(refused.len() <= 12, "{} files refused", refused.len());
    for file in &done {
        let name = file.input.display();
        let input = std::fs::read(&file.input).unwrap();
        let original = open(&input);
        let output = open(&file.output);
        assert_eq!(
            element_text(&output, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
            Some("YES"),
            "{name}"
        );
        // Pixel data: the same bytes, located by the layout walk in both files.
        if let Some(before) = raw_pixel_data(&input) {
            assert_eq!(
                raw_pixel_data(&file.output).as_deref(),
                Some(&before[..]),
                "{name}"
            );
        } else if let Ok(before) = original.element(tags::PIXEL_DATA) {
            // Deflated: compare the values dicom-rs reads.
            let after = output
                .element(tags::PIXEL_DATA)
                .unwrap_or_else(|_| panic!("{name}"));
            assert_eq!(
                before.to_bytes().unwrap(),
                after.to_bytes().unwrap(),
                "{name}"
            );
        }
        // The SOP Instance UID is replaced, and the meta says the same.
        if let Some(before) = element_text(&original, tags::SOP_INSTANCE_UID) {
            let after = element_text(&output, tags::SOP_INSTANCE_UID).unwrap();
            assert_ne!(before, after, "{name}");
            assert!(after.starts_with("2.25."), "{name}");
            assert_eq!(
                output.meta().media_storage_sop_instance_uid(),
                after,
                "{name}"
            );
        }
        // Neither the name nor the ID of the patient is left in any value of the file
        // (coded entries aside: "TEST" is a coding scheme as well as a name).
        let mut texts = Vec::new();
        collect_texts(&output, &mut texts);
        for tag in [tags::PATIENT_NAME, tags::PATIENT_ID] {
            let Some(value) = element_text(&original, tag) else {
                continue;
            };
            for part in value
                .split(['^', '='])
                .map(str::trim)
                .filter(|p| p.len() >= 4)
            {
                let part = part.to_lowercase();
                // Already anonymous in the input: the same word as Tessera's dummy.
                if part == DUMMY_TEXT.to_lowercase() {
                    continue;
                }
                let found = texts.iter().find(|t| {
                    t.to_lowercase()
                        .split(|c: char| !c.is_alphanumeric())
                        .any(|w| w == part)
                });
                assert!(
                    found.is_none(),
                    "{name}: {part:?} of {tag} is still in {found:?}"
                );
            }
        }
    }
}

/// Every text value of a data set and its sequences, code attributes excepted.
fn collect_texts(object: &InMemDicomObject, out: &mut Vec<String>) {
    const CODES: [Tag; 4] = [
        tags::CODE_VALUE,
        tags::CODING_SCHEME_DESIGNATOR,
        tags::CODE_MEANING,
        tags::CODING_SCHEME_VERSION,
    ];
    for element in object.iter() {
        match element.value() {
            Value::Sequence(seq) => seq.items().iter().for_each(|i| collect_texts(i, out)),
            Value::Primitive(_) if !CODES.contains(&element.tag()) => {
                if matches!(
                    element.vr(),
                    VR::PN | VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::CS
                ) {
                    if let Ok(text) = element.to_str() {
                        out.push(text.into_owned());
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn runs_with_one_secret_agree_and_other_secrets_differ() {
    let first = corpus_deidentifier(secret(1));
    let again = corpus_deidentifier(secret(1));
    let other = corpus_deidentifier(secret(2));
    for path in corpus().iter().take(40) {
        let bytes = std::fs::read(path).unwrap();
        let (Ok(a), Ok(b), Ok(c)) = (
            first.deidentify(&bytes),
            again.deidentify(&bytes),
            other.deidentify(&bytes),
        ) else {
            continue;
        };
        assert_eq!(a.part10, b.part10, "{}", path.display());
        assert_eq!(a.uids, b.uids, "{}", path.display());
        assert_eq!(a.sop_instance_uid, b.sop_instance_uid);
        assert_ne!(a.sop_instance_uid, c.sop_instance_uid, "{}", path.display());
        for (x, y) in a.uids.iter().zip(&c.uids) {
            assert_eq!(x.original, y.original);
            assert_ne!(x.replacement, y.replacement);
        }
    }
}
