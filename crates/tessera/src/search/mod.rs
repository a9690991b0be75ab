//! The search service behind QIDO-RS (PS3.18 10.6): parse a request into a
//! [`crate::query::SearchQuery`], let the index find the rows, shape them as DICOM JSON.

pub mod response;
pub mod service;
