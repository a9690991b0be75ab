//! A file with every attribute of Table E.1-1 present (every sequence with an item, every
//! other attribute once more inside an item of a sequence the table does not name), overlay
//! and curve groups, and private attributes, de-identified under the basic profile, under
//! each option alone and under all options together. Every output attribute is checked
//! against the table's action, read here from the TSV independently of the engine.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::{HasLength, Header};
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{Length, Tag, VR};
use dicom_dictionary_std::{tags, uids, StandardDataDictionary};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use tessera_dicom::deid::{
    replacement_uid, shift_date, shift_datetime, Dates, Deidentifier, Options, Outcome,
    PixelPolicy, Profile, DUMMY_DATE, DUMMY_TEXT,
};

use super::corpus::raw_pixel_data;
use super::support::{open, secret};

const TSV: &str = include_str!("../../src/deid/table_e1_1.tsv");
/// A sequence the table does not name, holding a copy of every other attribute.
const CONTAINER: Tag = tags::ANATOMIC_REGION_SEQUENCE;
/// Attributes the table does not name, put in every item of every sequence.
const UNLISTED_TEXT: Tag = tags::MANUFACTURER;
const UNLISTED_DATE: Tag = Tag(0x0014, 0x1020); // Expiry Date, DA
const CODE: Tag = tags::CODE_VALUE;
const ITEM_UID: Tag = tags::REFERENCED_SOP_INSTANCE_UID;
const PIXELS: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// One row of the table as this test reads it.
struct Row {
    tag: Tag,
    basic: String,
    options: Vec<String>,
}

fn rows() -> Vec<Row> {
    let mut lines = TSV.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header[0], "tag");
    assert_eq!(header[4], "basic");
    lines
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let inner = cells[0].strip_prefix('(')?.strip_suffix(')')?;
            let (g, e) = inner.split_once(',')?;
            let tag = Tag(
                u16::from_str_radix(g, 16).ok()?,
                u16::from_str_radix(e, 16).ok()?,
            );
            Some(Row {
                tag,
                basic: cells[4].to_string(),
                options: cells[5..15].iter().map(|c| c.to_string()).collect(),
            })
        })
        .collect()
}

/// The columns of the options, in the TSV's order.
fn enabled(options: &Options) -> [bool; 10] {
    [
        options.retain_safe_private,
        options.retain_uids,
        options.retain_device_identity,
        options.retain_institution_identity,
        options.retain_patient_characteristics,
        options.dates == Dates::RetainFull,
        options.dates == Dates::RetainModified,
        options.clean_descriptors,
        options.clean_structured_content,
        options.clean_graphics,
    ]
}

/// The letter the engine must have applied: an option's action overrides the basic one
/// (clean over keep if two disagree), and a combination acts as its rightmost code.
fn expected_action(row: &Row, options: &Options) -> char {
    let on = enabled(options);
    let mut action = row.basic.clone();
    let chosen: Vec<&String> = row
        .options
        .iter()
        .zip(on)
        .filter(|(a, on)| *on && !a.is_empty())
        .map(|(a, _)| a)
        .collect();
    if let Some(first) = chosen.first() {
        action = if chosen.iter().any(|a| *a == "C") {
            "C".into()
        } else {
            (*first).clone()
        };
    }
    action.trim_end_matches('*').chars().last().unwrap()
}

fn vr_of(tag: Tag) -> VR {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        Some(VirtualVr::Xs) => VR::US,
        Some(_) => VR::OB,
        None => VR::LO,
    }
}

fn original_value(tag: Tag, vr: VR) -> PrimitiveValue {
    let (g, e) = (tag.group(), tag.element());
    if tag == tags::PATIENT_ID {
        return PrimitiveValue::from("MRN12345");
    }
    match vr {
        VR::AE | VR::CS => PrimitiveValue::from("DOE"),
        VR::AS => PrimitiveValue::from("045Y"),
        VR::DA => PrimitiveValue::from("20200115"),
        VR::DT => PrimitiveValue::from("20200115103000"),
        VR::TM => PrimitiveValue::from("103000"),
        VR::DS => PrimitiveValue::from("7.5"),
        VR::IS => PrimitiveValue::from("7"),
        VR::PN => PrimitiveValue::from("DOE^JOHN"),
        VR::SH => PrimitiveValue::from(format!("S{e:04X} DOE")),
        VR::LO | VR::ST | VR::LT | VR::UT | VR::UC => {
            PrimitiveValue::from(format!("V{g:04X}{e:04X} DOE"))
        }
        VR::UR => PrimitiveValue::from("http://example.org/DOE"),
        VR::UI => PrimitiveValue::from(format!("1.2.3.{g}.{e}")),
        VR::US => PrimitiveValue::from(7u16),
        VR::SS => PrimitiveValue::from(7i16),
        VR::UL => PrimitiveValue::from(7u32),
        VR::SL => PrimitiveValue::from(7i32),
        VR::UV => PrimitiveValue::from(7u64),
        VR::SV => PrimitiveValue::from(7i64),
        VR::FL => PrimitiveValue::from(7f32),
        VR::FD => PrimitiveValue::from(7f64),
        VR::AT => PrimitiveValue::Tags(vec![tags::PATIENT_NAME].into()),
        _ => PrimitiveValue::U8(vec![1, 2, 3, 4].into()),
    }
}

fn primitive(tag: Tag) -> InMemElement {
    let vr = vr_of(tag);
    InMemElement::new(tag, vr, original_value(tag, vr))
}

fn text(tag: Tag, vr: VR, value: &str) -> InMemElement {
    InMemElement::new(tag, vr, PrimitiveValue::from(value))
}

fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> InMemElement {
    InMemElement::new(
        tag,
        VR::SQ,
        Value::from(DataSetSequence::new(items, Length::UNDEFINED)),
    )
}

/// The item put in every sequence of the table.
fn item(tag: Tag) -> InMemDicomObject {
    InMemDicomObject::from_element_iter([
        text(CODE, VR::SH, "T-1234"),
        text(UNLISTED_TEXT, VR::LO, "M DOE"),
        text(
            ITEM_UID,
            VR::UI,
            &format!("1.2.3.99.{}.{}", tag.group(), tag.element()),
        ),
        text(UNLISTED_DATE, VR::DA, "20200115"),
    ])
}

fn listed(row: &Row) -> bool {
    !matches!(row.tag.group(), 0x0000 | 0x0002)
}

/// The test file, in explicit VR little endian.
fn build() -> Vec<u8> {
    let rows = rows();
    let mut object = InMemDicomObject::new_empty();
    let mut nested = InMemDicomObject::new_empty();
    for row in rows.iter().filter(|r| listed(r)) {
        if vr_of(row.tag) == VR::SQ {
            object.put(sequence(row.tag, vec![item(row.tag)]));
        } else {
            object.put(primitive(row.tag));
            nested.put(primitive(row.tag));
        }
    }
    object.put(sequence(CONTAINER, vec![nested]));
    object.put(text(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE));
    // An overlay plane and a curve.
    object.put(InMemElement::new(
        Tag(0x6000, 0x0010),
        VR::US,
        PrimitiveValue::from(4u16),
    ));
    object.put(InMemElement::new(
        Tag(0x6000, 0x0011),
        VR::US,
        PrimitiveValue::from(4u16),
    ));
    object.put(text(Tag(0x6000, 0x0040), VR::CS, "G"));
    object.put(InMemElement::new(
        Tag(0x6000, 0x0100),
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    object.put(InMemElement::new(
        Tag(0x6000, 0x3000),
        VR::OW,
        PrimitiveValue::U8(vec![0xFF, 0].into()),
    ));
    object.put(text(Tag(0x6000, 0x4000), VR::LT, "DOE"));
    object.put(InMemElement::new(
        Tag(0x5000, 0x0005),
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    object.put(InMemElement::new(
        Tag(0x5000, 0x3000),
        VR::OB,
        PrimitiveValue::U8(vec![1, 2].into()),
    ));
    // Private attributes: a block Table E.3.10-1 lists (one safe element, one not) and a
    // vendor's block with a text and a sequence.
    object.put(text(
        Tag(0x7053, 0x0010),
        VR::LO,
        "Philips PET Private Group",
    ));
    object.put(text(Tag(0x7053, 0x1000), VR::DS, "1.5"));
    object.put(text(Tag(0x7053, 0x1001), VR::LO, "NOT LISTED DOE"));
    object.put(text(Tag(0x0009, 0x0010), VR::LO, "ACME 1.0"));
    object.put(text(Tag(0x0009, 0x1001), VR::LO, "PRIVATE DOE"));
    let private_item = InMemDicomObject::from_element_iter([
        text(tags::PATIENT_NAME, VR::PN, "DOE^JOHN"),
        text(UNLISTED_TEXT, VR::LO, "M DOE"),
    ]);
    object.put(sequence(Tag(0x0009, 0x1002), vec![private_item]));
    // An image.
    for (tag, v) in [
        (tags::ROWS, 4u16),
        (tags::COLUMNS, 4),
        (tags::BITS_ALLOCATED, 8),
        (tags::BITS_STORED, 8),
        (tags::SAMPLES_PER_PIXEL, 1),
    ] {
        object.put(InMemElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    object.put(text(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    ));
    object.put(InMemElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(PIXELS.to_vec().into()),
    ));

    let ts = TransferSyntaxRegistry
        .get(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .unwrap();
    let sop = object
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .into_owned();
    let mut file = tessera_dicom::part10::file_meta(
        uids::CT_IMAGE_STORAGE,
        &sop,
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        None,
    );
    object.write_dataset_with_ts(&mut file, ts).unwrap();
    file
}

fn deidentify(options: Options, file: &[u8]) -> Outcome {
    Deidentifier::new(Profile {
        options,
        secret: secret(7),
        pixels: PixelPolicy::default(),
    })
    .deidentify(file)
    .unwrap_or_else(|e| panic!("{options:?}: {e}"))
}

fn str_of(element: &InMemElement) -> String {
    element
        .to_str()
        .map(|s| s.trim_matches(|c| c == ' ' || c == '\0').to_string())
        .unwrap_or_default()
}

/// What the de-identified value of an original primitive must be.
fn check_primitive(
    what: &str,
    letter: char,
    tag: Tag,
    out: Option<&InMemElement>,
    outcome: &Outcome,
    options: &Options,
) {
    let vr = vr_of(tag);
    let original = original_value(tag, vr).to_str().trim().to_string();
    // Bytes cannot be cleaned: they go.
    let binary = matches!(
        vr,
        VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
    );
    if letter == 'X' || (letter == 'C' && binary) {
        assert!(out.is_none(), "{what}: present, expected removed");
        return;
    }
    let out = out.unwrap_or_else(|| panic!("{what}: removed, expected {letter}"));
    let value = str_of(out);
    if tag == tags::PATIENT_ID {
        assert_eq!(value, outcome.patient_id.1, "{what}");
        assert!(value.starts_with("ANON-"), "{what}");
        return;
    }
    if tag == tags::PATIENT_NAME {
        assert_eq!(
            value,
            format!("ANON^{}", &outcome.patient_id.1[5..]),
            "{what}"
        );
        return;
    }
    match letter {
        'Z' => assert!(
            out.value().primitive().unwrap().is_empty(),
            "{what}: {value:?} not empty"
        ),
        'K' => assert_eq!(value, original, "{what}"),
        'U' => assert_eq!(value, replacement_uid(&secret(7), &original), "{what}"),
        'D' => {
            assert!(
                !out.value().primitive().unwrap().is_empty(),
                "{what}: empty"
            );
            if vr == VR::UI {
                assert_eq!(value, replacement_uid(&secret(7), &original), "{what}");
            } else if original.contains("DOE") || vr == VR::DA || vr == VR::DT || vr == VR::TM {
                assert_ne!(value, original, "{what}");
            }
        }
        'C' => match vr {
            VR::DA => {
                let shift = outcome.date_shift_days.expect("a date shift");
                assert_eq!(Some(value), shift_date(&original, shift), "{what}");
            }
            VR::DT => {
                let shift = outcome.date_shift_days.expect("a date shift");
                assert_eq!(Some(value), shift_datetime(&original, shift), "{what}");
            }
            VR::TM => assert_eq!(value, original, "{what}"),
            _ if original.contains("DOE") => {
                assert!(!value.contains("DOE"), "{what}: {value:?} not cleaned");
                assert_eq!(value.chars().count(), original.chars().count(), "{what}");
            }
            _ => assert_eq!(value, original, "{what}"),
        },
        other => panic!("{what}: unexpected action {other}"),
    }
    let _ = options;
}

/// What the item of a table sequence must hold after `letter`.
fn check_sequence(
    what: &str,
    letter: char,
    tag: Tag,
    out: Option<&InMemElement>,
    options: &Options,
) {
    if letter == 'X' {
        assert!(out.is_none(), "{what}: present, expected removed");
        return;
    }
    let out = out.unwrap_or_else(|| panic!("{what}: removed, expected {letter}"));
    let items = out
        .value()
        .items()
        .unwrap_or_else(|| panic!("{what}: not a sequence"));
    if letter == 'Z' {
        assert!(
            items.is_empty(),
            "{what}: {} items, expected none",
            items.len()
        );
        return;
    }
    assert_eq!(items.len(), 1, "{what}");
    let item = &items[0];
    let get = |t: Tag| item.get(t).map(str_of);
    assert_eq!(get(CODE).as_deref(), Some("T-1234"), "{what}: code value");
    let uid = format!("1.2.3.99.{}.{}", tag.group(), tag.element());
    let want_uid = if options.retain_uids {
        uid.clone()
    } else {
        replacement_uid(&secret(7), &uid)
    };
    assert_eq!(
        get(ITEM_UID),
        Some(want_uid),
        "{what}: referenced SOP instance UID"
    );
    let text = get(UNLISTED_TEXT).unwrap_or_default();
    let date = get(UNLISTED_DATE).unwrap_or_default();
    match letter {
        'K' | 'U' => {
            assert_eq!(text, "M DOE", "{what}: unlisted text");
            assert_eq!(date, "20200115", "{what}: unlisted date");
        }
        'D' | 'C' => {
            if letter == 'D' {
                assert_eq!(text, DUMMY_TEXT, "{what}: unlisted text");
            } else {
                assert_eq!(text, "M ***", "{what}: unlisted text");
            }
            let want_date = match options.dates {
                Dates::RetainFull => "20200115".to_string(),
                Dates::RetainModified => "shifted".to_string(),
                Dates::Remove => DUMMY_DATE.to_string(),
            };
            if want_date == "shifted" {
                assert!(
                    date != "20200115" && date.len() == 8,
                    "{what}: unlisted date {date}"
                );
            } else {
                assert_eq!(date, want_date, "{what}: unlisted date");
            }
        }
        other => panic!("{what}: unexpected action {other}"),
    }
}

fn check(name: &str, options: Options) {
    let file = build();
    let outcome = deidentify(options, &file);
    let output = open(&outcome.part10);
    let nested = output
        .element(CONTAINER)
        .unwrap_or_else(|_| panic!("{name}: the container sequence is gone"))
        .value()
        .items()
        .unwrap()[0]
        .clone();
    let mut checked = 0;
    for row in rows().iter().filter(|r| listed(r)) {
        let letter = expected_action(row, &options);
        let what = format!("{name}: {} ({})", row.tag, row.basic);
        if vr_of(row.tag) == VR::SQ {
            check_sequence(
                &what,
                letter,
                row.tag,
                output.element(row.tag).ok(),
                &options,
            );
        } else {
            check_primitive(
                &what,
                letter,
                row.tag,
                output.element(row.tag).ok(),
                &outcome,
                &options,
            );
            let what = format!("{what} nested");
            check_primitive(
                &what,
                letter,
                row.tag,
                nested.element(row.tag).ok(),
                &outcome,
                &options,
            );
        }
        checked += 1;
    }
    assert!(checked > 600, "{checked}");
    // Overlay and curve groups are removed whole.
    for element in output.iter() {
        let g = element.tag().group();
        assert!(
            g & 0xFF00 != 0x6000 && g & 0xFF00 != 0x5000,
            "{name}: {} kept",
            element.tag()
        );
    }
    // Private attributes.
    let has = |t: Tag| output.element(t).is_ok();
    if options.retain_safe_private {
        assert!(
            has(Tag(0x7053, 0x0010)) && has(Tag(0x7053, 0x1000)),
            "{name}: safe private"
        );
        assert!(
            !has(Tag(0x7053, 0x1001)) && !has(Tag(0x0009, 0x1001)),
            "{name}: unsafe private"
        );
        let seq = output
            .element(Tag(0x0009, 0x1002))
            .expect("the private sequence is walked");
        let inner = &seq.value().items().unwrap()[0];
        assert!(str_of(inner.element(tags::PATIENT_NAME).unwrap()).starts_with("ANON^"));
        assert!(
            has(Tag(0x0009, 0x0010)),
            "{name}: the creator of a kept block"
        );
    } else {
        assert!(
            output.iter().all(|e| e.tag().group() % 2 == 0),
            "{name}: private kept"
        );
    }
    // The method attributes and the untouched pixels.
    assert_eq!(
        str_of(output.element(tags::PATIENT_IDENTITY_REMOVED).unwrap()),
        "YES"
    );
    let codes = output
        .element(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
        .unwrap();
    let values: Vec<String> = codes
        .value()
        .items()
        .unwrap()
        .iter()
        .map(|i| str_of(i.element(CODE).unwrap()))
        .collect();
    assert_eq!(values[0], "113100", "{name}");
    assert_eq!(
        values.len(),
        1 + enabled(&options).iter().filter(|on| **on).count(),
        "{name}: {values:?}"
    );
    assert_eq!(
        raw_pixel_data(&outcome.part10),
        raw_pixel_data(&file),
        "{name}"
    );
    assert_eq!(
        output
            .element(tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
            .as_ref(),
        &PIXELS
    );
    assert_eq!(
        output.meta().media_storage_sop_instance_uid(),
        outcome.sop_instance_uid
    );
}

#[test]
fn the_basic_profile() {
    check("basic", Options::default());
}

#[test]
fn each_option_alone() {
    let one = |f: fn(&mut Options)| {
        let mut options = Options::default();
        f(&mut options);
        options
    };
    let cases: [(&str, Options); 10] = [
        ("retain safe private", one(|o| o.retain_safe_private = true)),
        ("retain UIDs", one(|o| o.retain_uids = true)),
        (
            "retain device identity",
            one(|o| o.retain_device_identity = true),
        ),
        (
            "retain institution identity",
            one(|o| o.retain_institution_identity = true),
        ),
        (
            "retain patient characteristics",
            one(|o| o.retain_patient_characteristics = true),
        ),
        ("retain full dates", one(|o| o.dates = Dates::RetainFull)),
        (
            "retain modified dates",
            one(|o| o.dates = Dates::RetainModified),
        ),
        ("clean descriptors", one(|o| o.clean_descriptors = true)),
        (
            "clean structured content",
            one(|o| o.clean_structured_content = true),
        ),
        ("clean graphics", one(|o| o.clean_graphics = true)),
    ];
    for (name, options) in cases {
        check(name, options);
    }
}

#[test]
fn all_options_together() {
    check(
        "all options",
        Options {
            retain_safe_private: true,
            retain_uids: true,
            retain_device_identity: true,
            retain_institution_identity: true,
            retain_patient_characteristics: true,
            dates: Dates::RetainModified,
            clean_descriptors: true,
            clean_structured_content: true,
            clean_graphics: true,
        },
    );
}

#[test]
fn the_same_secret_gives_the_same_uids_in_two_runs() {
    let file = build();
    let a = deidentify(Options::default(), &file);
    let b = deidentify(Options::default(), &file);
    assert_eq!(a.uids, b.uids);
    assert_eq!(a.part10, b.part10);
    assert!(a.uids.len() > 50, "{}", a.uids.len());
    let other = Deidentifier::new(Profile {
        options: Options::default(),
        secret: secret(8),
        pixels: PixelPolicy::default(),
    })
    .deidentify(&file)
    .unwrap();
    assert_eq!(other.uids.len(), a.uids.len());
    assert!(other
        .uids
        .iter()
        .zip(&a.uids)
        .all(|(x, y)| x.original == y.original && x.replacement != y.replacement));
}
