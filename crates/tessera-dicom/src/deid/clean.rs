//! Action C on text: "replace with values of similar meaning known not to contain identifying
//! information". Tessera cannot understand free text, so it cleans by masking what it knows
//! to identify: every name, identifier and address met in the instance before
//! de-identification (whole values, and their words of two or more letters for person
//! names, three or more for the rest), matched as whole words without regard to case, and
//! anything that looks like a calendar date. Each masked character becomes `*`, so the text
//! keeps its shape and length (and so its VR's length limit). A name that the instance does
//! not carry (a relative's, a clinician's written only in a comment) is not found: the
//! documentation says so, and the options that clean (Clean Descriptors, Clean Structured
//! Content, Clean Graphics) are for operators who accept that.

use dicom_core::header::Header;
use dicom_core::value::Value;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// Attributes whose values are known identifiers, beyond every PN attribute (two of them
/// retired, and still found in files).
#[allow(deprecated)]
const IDENTIFYING: [Tag; 14] = [
    tags::PATIENT_ID,
    tags::OTHER_PATIENT_I_DS,
    tags::ISSUER_OF_PATIENT_ID,
    tags::ACCESSION_NUMBER,
    tags::STUDY_ID,
    tags::INSTITUTION_NAME,
    tags::INSTITUTION_ADDRESS,
    tags::INSTITUTIONAL_DEPARTMENT_NAME,
    tags::STATION_NAME,
    tags::PATIENT_ADDRESS,
    tags::PATIENT_TELEPHONE_NUMBERS,
    tags::MEDICAL_RECORD_LOCATOR,
    tags::ADMISSION_ID,
    tags::PATIENT_BIRTH_DATE,
];

/// The identifying terms of one instance.
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    terms: Vec<Vec<char>>,
}

impl Scrubber {
    /// Gather the terms from the whole data set, sequences included, before it is changed.
    pub fn from_dataset(object: &InMemDicomObject) -> Scrubber {
        let mut scrubber = Scrubber::default();
        scrubber.gather(object);
        scrubber.terms.sort();
        scrubber.terms.dedup();
        // Longest first, so a full name is masked before its parts.
        scrubber.terms.sort_by_key(|t| std::cmp::Reverse(t.len()));
        scrubber
    }

    /// Recursion is bounded by the parse, which refuses files nested deeper than its limit.
    fn gather(&mut self, object: &InMemDicomObject) {
        for element in object.iter() {
            match element.value() {
                Value::Sequence(seq) => {
                    for item in seq.items() {
                        self.gather(item);
                    }
                }
                Value::Primitive(_) => {
                    let is_name = element.vr() == VR::PN;
                    if !is_name && !IDENTIFYING.contains(&element.tag()) {
                        continue;
                    }
                    let Ok(text) = element.to_str() else { continue };
                    for value in text.split('\\') {
                        self.add(value, if is_name { 2 } else { 3 });
                    }
                }
                _ => {}
            }
        }
    }

    /// Add a whole value and its words of at least `min_word` characters.
    pub fn add(&mut self, value: &str, min_word: usize) {
        let whole: Vec<char> = value
            .trim_matches(|c: char| c == ' ' || c == '\0')
            .chars()
            .flat_map(char::to_lowercase)
            .collect();
        if whole.len() >= 2 {
            self.terms.push(whole.clone());
        }
        for word in whole.split(|c| !c.is_alphanumeric()) {
            if word.len() >= min_word {
                self.terms.push(word.to_vec());
            }
        }
    }

    /// The text with identifying terms and date-like numbers masked.
    pub fn scrub(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let lower: Vec<char> = chars
            .iter()
            .map(|c| c.to_lowercase().next().unwrap_or(*c))
            .collect();
        let mut mask = vec![false; chars.len()];
        for term in &self.terms {
            let n = term.len();
            if n == 0 || n > lower.len() {
                continue;
            }
            for start in 0..=lower.len() - n {
                if lower[start..start + n] == term[..]
                    && boundary(&lower, start.wrapping_sub(1))
                    && boundary(&lower, start + n)
                {
                    mask[start..start + n].iter_mut().for_each(|m| *m = true);
                }
            }
        }
        mask_dates(&chars, &mut mask);
        chars
            .iter()
            .zip(&mask)
            .map(|(c, masked)| if *masked { '*' } else { *c })
            .collect()
    }
}

fn boundary(chars: &[char], at: usize) -> bool {
    chars.get(at).is_none_or(|c| !c.is_alphanumeric())
}

/// Mask runs that read as dates: 8 digits `YYYYMMDD` with a plausible month and day, and
/// digit groups joined by `/`, `.` or `-` (`12/03/2024`, `2024-03-12`, `12.3.24`).
fn mask_dates(chars: &[char], mask: &mut [bool]) {
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        // The run of digits and date separators starting here.
        let mut end = i;
        let mut groups = vec![0usize];
        while end < chars.len() {
            let c = chars[end];
            if c.is_ascii_digit() {
                *groups.last_mut().unwrap_or(&mut 0) += 1;
            } else if matches!(c, '/' | '.' | '-')
                && chars.get(end + 1).is_some_and(|n| n.is_ascii_digit())
                && groups.len() < 3
            {
                groups.push(0);
            } else {
                break;
            }
            end += 1;
        }
        let followed_by_letter = chars.get(end).is_some_and(|c| c.is_alphanumeric());
        let is_date = !followed_by_letter
            && match groups.as_slice() {
                [8] => {
                    let digits: String = chars[i..end].iter().collect();
                    let month: u32 = digits[4..6].parse().unwrap_or(0);
                    let day: u32 = digits[6..8].parse().unwrap_or(0);
                    (digits.starts_with("19") || digits.starts_with("20"))
                        && (1..=12).contains(&month)
                        && (1..=31).contains(&day)
                }
                [a, b, c] => {
                    (1..=4).contains(a)
                        && (1..=2).contains(b)
                        && (1..=4).contains(c)
                        && (*a == 4 || *c == 4 || *c == 2)
                }
                _ => false,
            };
        if is_date {
            mask[i..end].iter_mut().for_each(|m| *m = true);
        }
        i = end.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::PrimitiveValue;
    use dicom_object::mem::InMemElement;

    fn scrubber() -> Scrubber {
        let mut object = InMemDicomObject::new_empty();
        object.put(InMemElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("Doe^John"),
        ));
        object.put(InMemElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from("MRN123456"),
        ));
        object.put(InMemElement::new(
            tags::INSTITUTION_NAME,
            VR::LO,
            PrimitiveValue::from("Saint Elsewhere Hospital"),
        ));
        Scrubber::from_dataset(&object)
    }

    #[test]
    fn names_identifiers_and_institutions_are_masked_as_whole_words() {
        let s = scrubber();
        assert_eq!(
            s.scrub("CT of John DOE, mrn123456"),
            "CT of **** ***, *********"
        );
        assert_eq!(s.scrub("Johnson liver"), "Johnson liver");
        assert_eq!(
            s.scrub("sent from Saint Elsewhere Hospital"),
            "sent from ************************"
        );
        assert_eq!(s.scrub("CHEST PA"), "CHEST PA");
    }

    #[test]
    fn dates_are_masked() {
        let s = Scrubber::default();
        assert_eq!(
            s.scrub("seen 20240312 and 12/03/2024"),
            "seen ******** and **********"
        );
        assert_eq!(s.scrub("on 2024-03-12."), "on **********.");
        assert_eq!(s.scrub("slice 5 of 120, 3.5 mm"), "slice 5 of 120, 3.5 mm");
        assert_eq!(s.scrub("series 12345678"), "series 12345678");
    }
}
