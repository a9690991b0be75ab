//! FHIR R4: ImagingStudy resources for the studies of the archive, pushed to a FHIR server.

pub mod push;
