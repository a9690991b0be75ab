//! One corpus instance as a tiny Part 10 file (explicit VR little endian, no Pixel Data),
//! written directly: about 700 bytes, a few microseconds each. Names that are not ASCII are
//! written in ISO_IR 100 (Latin-1) when they fit and the patient number is even, otherwise
//! in ISO_IR 192 (UTF-8), so both decoders are exercised.

use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};

use super::qido_synth::{Corpus, MODALITIES};
use super::synth::IMPLEMENTATION_CLASS_UID;

const LATIN1: &str = "ISO_IR 100";
const UTF8: &str = "ISO_IR 192";

/// Instance `index` of the corpus.
pub fn instance(corpus: &Corpus, index: u64) -> Vec<u8> {
    let series_index = corpus.series_of(index);
    let series = &corpus.series[series_index];
    let study = &corpus.studies[series.study];
    let patient = &corpus.patients[study.patient];
    let main = &MODALITIES[study.modality];
    let modality = &MODALITIES[series.modality];
    let (description, body_part) = main.kinds[study.kind];
    let sop_uid = corpus.sop_uid(index);
    let charset = charset(&[&patient.name, &study.referring], study.patient);
    let text = |value: &str| encode(value, charset);
    let number = index - series.first_instance + 1;

    let mut data = Vec::with_capacity(640);
    if let Some(charset) = charset {
        put(
            &mut data,
            tags::SPECIFIC_CHARACTER_SET,
            b"CS",
            charset.as_bytes(),
        );
    }
    put(
        &mut data,
        tags::SOP_CLASS_UID,
        b"UI",
        modality.sop_class.as_bytes(),
    );
    put(&mut data, tags::SOP_INSTANCE_UID, b"UI", sop_uid.as_bytes());
    put(&mut data, tags::STUDY_DATE, b"DA", study.date.as_bytes());
    put(&mut data, tags::SERIES_DATE, b"DA", study.date.as_bytes());
    put(&mut data, tags::STUDY_TIME, b"TM", study.time.as_bytes());
    put(
        &mut data,
        tags::ACCESSION_NUMBER,
        b"SH",
        study.accession.as_bytes(),
    );
    put(&mut data, tags::MODALITY, b"CS", modality.code.as_bytes());
    put(&mut data, tags::MANUFACTURER, b"LO", b"Tessera Bench");
    put(
        &mut data,
        tags::REFERRING_PHYSICIAN_NAME,
        b"PN",
        &text(&study.referring),
    );
    put(
        &mut data,
        tags::STUDY_DESCRIPTION,
        b"LO",
        description.as_bytes(),
    );
    let series_description = format!("{} series {}", modality.code, series.number);
    put(
        &mut data,
        tags::SERIES_DESCRIPTION,
        b"LO",
        series_description.as_bytes(),
    );
    put(&mut data, tags::PATIENT_NAME, b"PN", &text(&patient.name));
    put(&mut data, tags::PATIENT_ID, b"LO", patient.id.as_bytes());
    put(
        &mut data,
        tags::PATIENT_BIRTH_DATE,
        b"DA",
        patient.birth_date.as_bytes(),
    );
    put(&mut data, tags::PATIENT_SEX, b"CS", patient.sex.as_bytes());
    if !body_part.is_empty() {
        put(
            &mut data,
            tags::BODY_PART_EXAMINED,
            b"CS",
            body_part.as_bytes(),
        );
    }
    let study_uid = corpus.study_uid(series.study);
    put(
        &mut data,
        tags::STUDY_INSTANCE_UID,
        b"UI",
        study_uid.as_bytes(),
    );
    let series_uid = corpus.series_uid(series_index);
    put(
        &mut data,
        tags::SERIES_INSTANCE_UID,
        b"UI",
        series_uid.as_bytes(),
    );
    let study_id = (series.study + 1).to_string();
    put(&mut data, tags::STUDY_ID, b"SH", study_id.as_bytes());
    put(
        &mut data,
        tags::SERIES_NUMBER,
        b"IS",
        series.number.to_string().as_bytes(),
    );
    put(
        &mut data,
        tags::INSTANCE_NUMBER,
        b"IS",
        number.to_string().as_bytes(),
    );

    let mut meta = Vec::with_capacity(256);
    put(
        &mut meta,
        tags::FILE_META_INFORMATION_VERSION,
        b"OB",
        &[0, 1],
    );
    put(
        &mut meta,
        tags::MEDIA_STORAGE_SOP_CLASS_UID,
        b"UI",
        modality.sop_class.as_bytes(),
    );
    put(
        &mut meta,
        tags::MEDIA_STORAGE_SOP_INSTANCE_UID,
        b"UI",
        sop_uid.as_bytes(),
    );
    put(
        &mut meta,
        tags::TRANSFER_SYNTAX_UID,
        b"UI",
        uids::EXPLICIT_VR_LITTLE_ENDIAN.as_bytes(),
    );
    put(
        &mut meta,
        tags::IMPLEMENTATION_CLASS_UID,
        b"UI",
        IMPLEMENTATION_CLASS_UID.as_bytes(),
    );
    put(
        &mut meta,
        tags::IMPLEMENTATION_VERSION_NAME,
        b"SH",
        b"TESSERA_BENCH",
    );

    let mut file = Vec::with_capacity(132 + 12 + meta.len() + data.len());
    file.resize(128, 0);
    file.extend_from_slice(b"DICM");
    put(
        &mut file,
        tags::FILE_META_INFORMATION_GROUP_LENGTH,
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
    );
    file.extend_from_slice(&meta);
    file.extend_from_slice(&data);
    file
}

/// The Specific Character Set the texts need: none for ASCII.
fn charset(texts: &[&str], patient: usize) -> Option<&'static str> {
    if texts.iter().all(|t| t.is_ascii()) {
        None
    } else if patient % 2 == 1 && texts.iter().all(|t| t.chars().all(|c| u32::from(c) < 256)) {
        // Patient numbers count from 1: index 1 is patient P0000002.
        Some(LATIN1)
    } else {
        Some(UTF8)
    }
}

fn encode(text: &str, charset: Option<&str>) -> Vec<u8> {
    match charset {
        Some(LATIN1) => text.chars().map(|c| u32::from(c) as u8).collect(),
        _ => text.as_bytes().to_vec(),
    }
}

/// One explicit VR little endian element, padded to even length (UI and OB with NUL).
fn put(out: &mut Vec<u8>, tag: Tag, vr: &[u8; 2], value: &[u8]) {
    let padded = value.len() + value.len() % 2;
    out.extend_from_slice(&tag.group().to_le_bytes());
    out.extend_from_slice(&tag.element().to_le_bytes());
    out.extend_from_slice(vr);
    if vr == b"OB" {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(padded as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(padded as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
    if padded > value.len() {
        out.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(obj: &dicom_object::DefaultDicomObject, tag: Tag) -> String {
        obj.element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn instances_parse_with_their_corpus_attributes() {
        let corpus = Corpus::new(3_000, 1);
        let mut charsets = std::collections::BTreeSet::new();
        for index in (0..3_000).step_by(7) {
            let bytes = instance(&corpus, index);
            let obj = dicom_object::DefaultDicomObject::from_reader(&bytes[128..]).unwrap();
            let series = &corpus.series[corpus.series_of(index)];
            let study = &corpus.studies[series.study];
            let patient = &corpus.patients[study.patient];
            assert_eq!(text(&obj, tags::SOP_INSTANCE_UID), corpus.sop_uid(index));
            assert_eq!(
                obj.meta().media_storage_sop_instance_uid(),
                corpus.sop_uid(index)
            );
            assert_eq!(
                text(&obj, tags::STUDY_INSTANCE_UID),
                corpus.study_uid(series.study)
            );
            assert_eq!(text(&obj, tags::PATIENT_NAME), patient.name);
            assert_eq!(text(&obj, tags::PATIENT_ID), patient.id);
            assert_eq!(text(&obj, tags::ACCESSION_NUMBER), study.accession);
            assert_eq!(text(&obj, tags::MODALITY), MODALITIES[series.modality].code);
            assert!(obj.element(tags::PIXEL_DATA).is_err());
            charsets.insert(
                obj.element(tags::SPECIFIC_CHARACTER_SET)
                    .ok()
                    .map(|e| e.to_str().unwrap().trim().to_string()),
            );
            assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        }
        assert_eq!(charsets.len(), 3, "{charsets:?}");
    }
}
