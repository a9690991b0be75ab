//! Integration tests through HTTP against the real application, one binary (fast to link).
//! The shared STOW suite runs once per (index, blob store) pair.

// First: the test modules use their macros.
#[macro_use]
mod macros;
#[macro_use]
mod wado_support;

mod delete_feed;
mod fhir;
mod fhir_push;
mod fhir_server;
mod helpers;
mod index_write;
mod nodes;
mod pixels;
mod processes;
mod qido;
mod qido_fixtures;
mod qido_plans;
mod suite;
mod synthetic;
mod viewer;
mod wado_bulkdata;
mod wado_frames;
mod wado_metadata;
mod wado_rendered;
mod wado_retrieve;

use helpers::{IndexKind, StorageKind};

macro_rules! backend_suite {
    ($($module:ident: $index:expr, $storage:expr;)*) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn stores_every_testdata_file_bit_exact() {
                suite::stores_every_testdata_file_bit_exact($index, $storage).await
            }
            #[tokio::test]
            async fn stores_a_batch_in_one_request() {
                suite::stores_a_batch_in_one_request($index, $storage).await
            }
            #[tokio::test]
            async fn bad_input_is_refused_and_nothing_is_stored() {
                suite::bad_input_is_refused_and_nothing_is_stored($index, $storage).await
            }
            #[tokio::test]
            async fn size_limits_answer_413() {
                suite::size_limits_answer_413($index, $storage).await
            }
            #[tokio::test]
            async fn mixed_request_stores_the_good_part() {
                suite::mixed_request_stores_the_good_part($index, $storage).await
            }
            #[tokio::test]
            async fn duplicate_policies() {
                suite::duplicate_policies($index, $storage).await
            }
            #[tokio::test]
            async fn concurrent_duplicates_one_wins() {
                suite::concurrent_duplicates_one_wins($index, $storage).await
            }
            #[tokio::test]
            async fn concurrent_requests_keep_counts_exact() {
                suite::concurrent_requests_keep_counts_exact($index, $storage).await
            }
            #[tokio::test]
            async fn media_type_variants_and_xml() {
                suite::media_type_variants_and_xml($index, $storage).await
            }
            #[tokio::test]
            async fn orphan_blobs_are_swept() {
                suite::orphan_blobs_are_swept($index, $storage).await
            }
            #[tokio::test]
            async fn broken_real_files_never_500() {
                suite::broken_real_files_never_500($index, $storage).await
            }

            #[tokio::test]
            async fn spooled_parts_store_bit_exact() {
                suite::spooled_parts_store_bit_exact($index, $storage).await
            }

            #[tokio::test]
            async fn large_instance_streams_through_staging() {
                suite::large_instance_streams_through_staging($index, $storage).await
            }
        }
    )*};
}

backend_suite! {
    sqlite_local: IndexKind::Sqlite, StorageKind::Local;
    sqlite_memory: IndexKind::Sqlite, StorageKind::Memory;
    sqlite_s3: IndexKind::Sqlite, StorageKind::S3;
    postgres_local: IndexKind::Postgres, StorageKind::Local;
    postgres_memory: IndexKind::Postgres, StorageKind::Memory;
    postgres_s3: IndexKind::Postgres, StorageKind::S3;
}
