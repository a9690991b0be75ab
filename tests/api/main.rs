//! Integration tests through HTTP against the real application, one binary (fast to link).
//! A test that runs on several backends (index and blob store) says which through
//! `backend_tests!` (macros.rs); the shared STOW suite (suite.rs) runs on all six.

// First, so that the test modules can use its macro.
#[macro_use]
mod macros;

mod audit_trail;
mod auth_routes;
mod auth_support;
mod auth_tokens;
mod crash;
mod deidentify;
mod delete_feed;
mod dimse;
mod disk_full;
mod export;
mod fhir;
mod fhir_push;
mod fhir_server;
mod helpers;
mod hostile_paths;
mod http2_idle;
mod http_limits;
mod import;
mod index_write;
mod jobs;
mod metrics;
mod nodes;
mod operations;
mod outage;
mod overload;
mod partitions;
mod pixels;
mod processes;
mod proxy;
mod qido;
mod qido_fixtures;
mod qido_plans;
mod suite;
mod synthetic;
mod tls;
mod viewer;
mod wado_bulkdata;
mod wado_frames;
mod wado_metadata;
mod wado_rendered;
mod wado_retrieve;
mod wado_support;
