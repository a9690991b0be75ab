//! Tessera: a DICOMweb archive. Instances live in object storage, metadata in an index
//! (SQLite or PostgreSQL). See README.md for the big picture.

pub mod alloc;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod delete;
pub mod digest;
pub mod dimse;
pub mod feed;
pub mod fhir;
pub mod frames;
pub mod http;
pub mod index;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod ops;
pub mod partition;
pub mod partitions;
#[cfg(test)]
mod proptest_config;
pub mod query;
pub mod retrieve;
pub mod search;
pub mod service;
pub mod storage;
pub mod telemetry;
pub mod time;
pub mod viewer;
