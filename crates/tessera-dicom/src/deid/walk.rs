//! Table E.1-1 applied to a data set and, recursively, to every item of every sequence
//! ("whether contained in the main dataset or embedded in an Item of a Sequence", E.1.1).
//!
//! Sequences: X removes, Z leaves no items, K and U (X/Z/U*) walk the items under the same
//! rules. D and C walk the items too, and inside them every attribute the table does not name
//! is replaced (D: a dummy) or cleaned (C) if it can carry free text or a date (PN, LO, SH,
//! ST, LT, UT, UC; DA, DT, TM), so that a dummied or cleaned sequence such as Content Sequence
//! keeps nothing unlisted that may identify; coded values (CS, the code sequence attributes),
//! numbers and UIDs of classes stay, since they identify no one.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{Length, Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

use super::action::Effect;
use super::clean::Scrubber;
use super::dates;
use super::dummy;
use super::key::Secret;
use super::options::{Dates, Options};
use super::private::{self, SafePrivate};
use super::pseudonym::{self, PatientKey};
use super::table::Table;
use super::uid::UidMap;

/// How attributes the table does not name are treated inside a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Kept (the table's rules still apply to the attributes it names).
    Normal,
    /// Inside a sequence given D: text and dates replaced by dummies.
    Dummy,
    /// Inside a sequence given C: text cleaned, dates handled as the date option says.
    Clean,
}

/// Attributes of coded entries (PS3.3 Table 8.8-1): controlled terms, never identifying.
const CODE_ATTRIBUTES: [Tag; 7] = [
    tags::CODE_VALUE,
    tags::CODING_SCHEME_DESIGNATOR,
    tags::CODING_SCHEME_VERSION,
    tags::CODE_MEANING,
    tags::LONG_CODE_VALUE,
    tags::URN_CODE_VALUE,
    tags::MAPPING_RESOURCE,
];

/// Attributes that `method.rs` writes afresh at the top level.
pub(crate) const WRITTEN_AFTER: [Tag; 4] = [
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
    tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
];

/// Everything one instance's walk needs and produces.
pub(crate) struct Walker<'a> {
    pub table: &'a Table,
    pub safe_private: &'a SafePrivate,
    pub options: &'a Options,
    pub secret: &'a Secret,
    pub scrubber: Scrubber,
    pub date_offset: i32,
    pub uids: UidMap,
}

impl Walker<'_> {
    /// De-identify the top-level data set.
    pub fn top(&mut self, object: InMemDicomObject, patient: &PatientKey) -> InMemDicomObject {
        self.dataset(object, Mode::Normal, patient, 0, true)
    }

    fn dataset(
        &mut self,
        object: InMemDicomObject,
        mode: Mode,
        parent_patient: &PatientKey,
        depth: usize,
        top: bool,
    ) -> InMemDicomObject {
        let patient = item_patient(&object).unwrap_or_else(|| parent_patient.clone());
        let creators: Vec<(Tag, String)> = object
            .iter()
            .filter(|e| private::is_creator(e.tag()))
            .filter_map(|e| Some((e.tag(), e.to_str().ok()?.trim().to_string())))
            .collect();
        // An overlay plane whose Overlay Data goes, and a (retired) curve whose data goes,
        // go whole: their other attributes would describe data that is no longer there.
        // Neither can be cleaned here (bitmaps and curves are not read), so C removes them.
        let dropped_groups: Vec<u16> = object
            .iter()
            .filter(|e| is_overlay_or_curve_data(e.tag()))
            .filter(|e| {
                self.table.lookup(e.tag()).is_some_and(|r| {
                    matches!(
                        r.action(self.options).effect(),
                        Effect::Remove | Effect::Clean
                    )
                })
            })
            .map(|e| e.tag().group())
            .collect();

        let mut out = InMemDicomObject::new_empty();
        let mut used_creators: Vec<Tag> = Vec::new();
        for element in object {
            let tag = element.tag();
            if tag.element() == 0x0000 || tag.group() == 0x0002 {
                // Group lengths would be wrong after the changes; they are optional.
                continue;
            }
            if top && WRITTEN_AFTER.contains(&tag) {
                continue;
            }
            if dropped_groups.contains(&tag.group()) {
                continue;
            }
            if private::is_private(tag) {
                if private::is_creator(tag) {
                    continue; // kept below if a kept element needs it
                }
                if let Some(kept) = self.private_element(element, &creators, &patient, depth) {
                    used_creators.extend(private::creator_of(tag));
                    out.put(kept);
                }
                continue;
            }
            if let Some(kept) = self.standard_element(element, mode, &patient, depth) {
                out.put(kept);
            }
        }
        for (tag, creator) in creators {
            if used_creators.contains(&tag) {
                out.put(InMemElement::new(
                    tag,
                    VR::LO,
                    PrimitiveValue::from(creator),
                ));
            }
        }
        out
    }

    fn private_element(
        &mut self,
        element: InMemElement,
        creators: &[(Tag, String)],
        patient: &PatientKey,
        depth: usize,
    ) -> Option<InMemElement> {
        if !self.options.retain_safe_private {
            return None;
        }
        let creator_tag = private::creator_of(element.tag())?;
        let creator = creators.iter().find(|(t, _)| *t == creator_tag)?.1.as_str();
        let safe = self.safe_private.is_safe(element.tag(), creator);
        let is_sequence = matches!(element.value(), Value::Sequence(_));
        match (safe, is_sequence) {
            (true, false) => Some(element),
            // A sequence, listed or not, is walked: its contents each on their own merits.
            (_, true) => Some(self.walk_items(element, Mode::Normal, patient, depth)),
            (false, false) => None,
        }
    }

    fn standard_element(
        &mut self,
        element: InMemElement,
        mode: Mode,
        patient: &PatientKey,
        depth: usize,
    ) -> Option<InMemElement> {
        let tag = element.tag();
        let Some(rule) = self.table.lookup(tag) else {
            return self.unlisted(element, mode, patient, depth);
        };
        let effect = rule.action(self.options).effect();
        if effect != Effect::Keep && effect != Effect::Remove {
            if tag == tags::PATIENT_ID {
                let value = pseudonym::patient_id(self.secret, patient);
                return Some(InMemElement::new(tag, VR::LO, PrimitiveValue::from(value)));
            }
            if tag == tags::PATIENT_NAME {
                let value = pseudonym::patient_name(self.secret, patient);
                return Some(InMemElement::new(tag, VR::PN, PrimitiveValue::from(value)));
            }
        }
        if effect == Effect::Clean && tag.group() & 0xFF00 == 0x5000 {
            return None; // curves are not read, so not cleaned
        }
        let element = known_vr(element);
        let vr = element.vr();
        match effect {
            Effect::Remove => None,
            Effect::Empty => Some(dummy::empty(tag, vr)),
            Effect::Keep => Some(self.walk_items(element, Mode::Normal, patient, depth)),
            Effect::Dummy => Some(self.dummy(element, patient, depth)),
            Effect::Clean => self.clean(element, patient, depth),
            Effect::ReplaceUid => self.replace_uids(element, patient, depth),
        }
    }

    fn unlisted(
        &mut self,
        element: InMemElement,
        mode: Mode,
        patient: &PatientKey,
        depth: usize,
    ) -> Option<InMemElement> {
        if mode == Mode::Normal || CODE_ATTRIBUTES.contains(&element.tag()) {
            return Some(self.walk_items(element, mode, patient, depth));
        }
        let element = known_vr(element);
        match element.vr() {
            VR::SQ => Some(self.walk_items(element, mode, patient, depth)),
            VR::PN | VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC => match mode {
                Mode::Dummy => Some(self.dummy(element, patient, depth)),
                _ => self.clean(element, patient, depth),
            },
            VR::DA | VR::DT | VR::TM => match self.options.dates {
                Dates::RetainFull => Some(element),
                Dates::RetainModified => self.clean(element, patient, depth),
                Dates::Remove => Some(self.dummy(element, patient, depth)),
            },
            _ => Some(element),
        }
    }

    /// Walk the items of a sequence element under `mode`; other elements are returned as is.
    fn walk_items(
        &mut self,
        element: InMemElement,
        mode: Mode,
        patient: &PatientKey,
        depth: usize,
    ) -> InMemElement {
        let tag = element.tag();
        let vr = element.vr();
        match element.into_value() {
            Value::Sequence(seq) => {
                let items: Vec<InMemDicomObject> = seq
                    .into_items()
                    .into_iter()
                    .map(|item| self.dataset(item, mode, patient, depth + 1, false))
                    .collect();
                InMemElement::new(
                    tag,
                    VR::SQ,
                    Value::from(DataSetSequence::new(items, Length::UNDEFINED)),
                )
            }
            value => InMemElement::new(tag, vr, value),
        }
    }

    fn dummy(&mut self, element: InMemElement, patient: &PatientKey, depth: usize) -> InMemElement {
        let tag = element.tag();
        match element.vr() {
            VR::SQ => self.walk_items(element, Mode::Dummy, patient, depth),
            VR::UI => self
                .replace_uids(element, patient, depth)
                .unwrap_or_else(|| dummy::empty(tag, VR::UI)),
            vr => match dummy::dummy_value(vr) {
                Some(value) => InMemElement::new(tag, vr, value),
                None => dummy::empty(tag, vr),
            },
        }
    }

    fn clean(
        &mut self,
        element: InMemElement,
        patient: &PatientKey,
        depth: usize,
    ) -> Option<InMemElement> {
        let tag = element.tag();
        let vr = element.vr();
        match vr {
            VR::SQ => Some(self.walk_items(element, Mode::Clean, patient, depth)),
            VR::UI => self.replace_uids(element, patient, depth),
            VR::DA | VR::DT => {
                let shift = if vr == VR::DA {
                    dates::shift_date
                } else {
                    dates::shift_datetime
                };
                let values = element.to_multi_str().ok()?;
                let shifted: Option<Vec<String>> =
                    values.iter().map(|v| shift(v, self.date_offset)).collect();
                Some(match shifted {
                    Some(values) => InMemElement::new(tag, vr, strings(values)),
                    // A value that is not a date cannot be shifted: a dummy replaces it.
                    None => self.dummy(element, patient, depth),
                })
            }
            // A whole-day shift leaves times of day as they were.
            VR::TM => Some(element),
            VR::AE | VR::CS | VR::LO | VR::SH | VR::PN | VR::UC => {
                let values = element.to_multi_str().ok()?;
                let cleaned: Vec<String> = values.iter().map(|v| self.scrubber.scrub(v)).collect();
                Some(InMemElement::new(tag, vr, strings(cleaned)))
            }
            VR::ST | VR::LT | VR::UT | VR::UR => {
                let text = element.to_str().ok()?;
                let cleaned = self.scrubber.scrub(&text);
                Some(InMemElement::new(tag, vr, PrimitiveValue::from(cleaned)))
            }
            // Numbers identify no one.
            VR::AS
            | VR::DS
            | VR::IS
            | VR::US
            | VR::SS
            | VR::UL
            | VR::SL
            | VR::UV
            | VR::SV
            | VR::FL
            | VR::FD
            | VR::AT => Some(element),
            // Bytes Tessera cannot read (overlay bitmaps, curves, unknown values) cannot be
            // cleaned: they go.
            _ => None,
        }
    }

    fn replace_uids(
        &mut self,
        element: InMemElement,
        patient: &PatientKey,
        depth: usize,
    ) -> Option<InMemElement> {
        let tag = element.tag();
        match element.vr() {
            VR::SQ => Some(self.walk_items(element, Mode::Normal, patient, depth)),
            VR::UI => {
                let values = element.to_multi_str().ok()?;
                let replaced: Vec<String> = values
                    .iter()
                    .map(|v| self.uids.replace(self.secret, v))
                    .collect();
                Some(InMemElement::new(tag, VR::UI, strings(replaced)))
            }
            // A UID attribute in another VR is not a value Tessera can map: it goes.
            _ => None,
        }
    }
}

fn strings(values: Vec<String>) -> PrimitiveValue {
    if values.is_empty() {
        PrimitiveValue::Empty
    } else {
        PrimitiveValue::Strs(values.into())
    }
}

/// The patient a data set (or item) is about, if it names one.
fn item_patient(object: &InMemDicomObject) -> Option<PatientKey> {
    let text = |tag| {
        object
            .get(tag)
            .and_then(|e| e.to_str().ok().map(|s| s.into_owned()))
    };
    let id = text(tags::PATIENT_ID);
    let name = text(tags::PATIENT_NAME);
    (id.is_some() || name.is_some()).then(|| PatientKey::new(id.as_deref(), name.as_deref()))
}

fn is_overlay_or_curve_data(tag: Tag) -> bool {
    matches!(tag.group() & 0xFF00, 0x5000 | 0x6000)
        && tag.group() % 2 == 0
        && tag.element() == 0x3000
}

/// A UN element of an attribute the dictionary knows, given the dictionary's VR when it is
/// a text VR (so that a dummy or a cleaned value can be written in it); others as they are.
fn known_vr(element: InMemElement) -> InMemElement {
    if element.vr() != VR::UN {
        return element;
    }
    let Some(entry) = StandardDataDictionary.by_tag(element.tag()) else {
        return element;
    };
    let VirtualVr::Exact(vr) = entry.vr() else {
        return element;
    };
    let text_vr = matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    );
    let bytes = match element.value() {
        Value::Primitive(PrimitiveValue::U8(bytes)) if text_vr => bytes.to_vec(),
        _ => return element,
    };
    let text: String = String::from_utf8_lossy(&bytes)
        .trim_end_matches(['\0', ' '])
        .to_string();
    let value = if matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR) {
        PrimitiveValue::from(text)
    } else {
        strings(text.split('\\').map(str::to_string).collect())
    };
    InMemElement::new(element.tag(), vr, value)
}
