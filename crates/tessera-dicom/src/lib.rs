//! DICOM knowledge that is independent of HTTP and storage: typed UIDs, status codes,
//! byte layout of Part 10 files, character sets, attribute extraction, DICOM JSON.

pub mod charset;
pub mod datetime;
mod declared;
mod deflated;
pub mod deid;
pub mod error;
pub mod extract;
pub mod json;
pub mod layout;
pub mod limits;
pub mod parsed;
pub mod part10;
pub mod person_name;
pub mod status;
pub mod uid;
pub mod un;
pub mod xml;
