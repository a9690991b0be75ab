//! The QIDO query model, below the index that answers it and the search service that asks:
//! the attributes matched and returned per level, a request as typed data and its parsing,
//! operator-configured extra attributes, stored values and their DICOM JSON, and the
//! prepared default members of each row. PS3.18 10.6, PS3.4 C.2.2.2.

pub mod attributes;
mod error;
pub mod extra;
pub mod fragments;
mod model;
pub mod parse;
pub mod values;

pub use attributes::Level;
pub use error::QueryError;
pub use model::{Filter, Limits, Matcher, SearchQuery, Target};
