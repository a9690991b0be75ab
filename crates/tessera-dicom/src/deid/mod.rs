//! De-identification by the Basic Application Level Confidentiality Profile and its options
//! (PS3.15 Annex E, <https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html>).
//!
//! Table E.1-1 is data, generated from the standard (`table_e1_1.tsv`, edition in its first
//! line; `scripts/dev/gen_deid_table.py`), and applied to the data set and to every item of
//! every sequence. UIDs, the patient's pseudonyms and date offsets come from a keyed hash
//! with the project's secret. Pixel data is copied byte for byte; instances whose pixels may
//! show identities are refused unless allowed or masked. `docs/deidentification.md` describes
//! the choices.
//!
//! ```no_run
//! use tessera_dicom::deid::{Deidentifier, Options, PixelPolicy, Profile, Secret};
//! # fn run(file: &[u8]) -> Result<(), tessera_dicom::deid::DeidError> {
//! let deid = Deidentifier::new(Profile {
//!     options: Options::default(),
//!     secret: Secret::new(b"a project secret of 16+ bytes".to_vec())?,
//!     pixels: PixelPolicy::default(),
//! });
//! let outcome = deid.deidentify(file)?;
//! # let _ = outcome.part10; Ok(()) }
//! ```

mod action;
mod clean;
mod dates;
mod dummy;
mod engine;
mod error;
mod key;
mod method;
mod options;
mod output;
mod pixels;
mod private;
mod pseudonym;
mod table;
mod uid;
mod walk;

pub use action::{Action, Effect};
pub use clean::Scrubber;
pub use dates::{offset_days, shift_date, shift_datetime};
pub use dummy::{DUMMY_DATE, DUMMY_DATETIME, DUMMY_TEXT, DUMMY_TIME};
pub use engine::{Deidentifier, Outcome, Profile};
pub use error::DeidError;
pub use key::{Secret, MIN_SECRET_LEN};
pub use method::{codes as method_codes, MethodCode};
pub use options::{Dates, OptionColumn, Options};
pub use pixels::{PixelMask, PixelPolicy, Rect, BURNED_IN_SOP_CLASSES};
pub use private::SafePrivate;
pub use pseudonym::{
    patient_id as pseudonym_patient_id, patient_name as pseudonym_patient_name, PatientKey,
};
pub use table::{Rule, Table, TagPattern};
pub use uid::{replacement_uid, UidMapping};
