//! FHIR R4 (4.0.1): the ImagingStudy view of the studies Tessera holds, its Endpoint, the
//! CapabilityStatement, searchset Bundles and OperationOutcomes. Services only: the HTTP
//! handlers are in `http::fhir`. The mapping is in [`imaging_study`] (a pure function, also
//! for pushing to an external FHIR server).

pub mod audit_event;
pub mod audit_events;
pub mod bundle;
pub mod capability;
pub mod codes;
pub mod datetime;
pub mod endpoint;
mod error;
pub mod imaging_study;
pub mod names;
pub mod outcome;
pub mod params;
pub mod push;
pub mod service;
pub mod values;

pub use error::FhirError;
pub use imaging_study::MappingOptions;
pub use service::FhirService;

/// The media type of every FHIR answer.
pub const MEDIA_TYPE: &str = "application/fhir+json; charset=utf-8";
