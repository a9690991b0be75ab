//! Macros the test modules share.

/// The backend matrix, the one way a test runs on several backends: one `#[tokio::test]` per
/// (test, backend), named `<module>::<backend>::<test>`, calling the module's
/// `async fn <test>(backend: Backend)`.
///
/// ```ignore
/// backend_tests! {
///     every_index_in_memory => [matching_table, xml_results];
///     [sqlite_local, sqlite_s3] => [round_trip_bit_exact];
/// }
/// ```
///
/// Each line gives backends and the tests that run on each of them. The backends are a named
/// set:
///
/// - `every_index_in_memory`: `sqlite_memory`, `postgres_memory`
/// - `every_index_on_local_disk`: `sqlite_local`, `postgres_local`
/// - `every_index_on_s3`: `sqlite_s3`, `postgres_s3`
/// - `every_index_on_every_store`: all eight (the six above, and Azure Blob Storage through
///   Azurite: `sqlite_azure`, `postgres_azure`)
///
/// or a list in brackets of `sqlite_local`, `sqlite_memory`, `sqlite_s3`, `postgres_local`,
/// `postgres_memory`, `postgres_s3`, `sqlite_azure`, `postgres_azure` (the `Backend` constants
/// of helpers.rs). A backend is the
/// module of its tests, so it may appear on only one line of a module (the compiler says so
/// otherwise: the module would be defined twice).
///
/// macro_rules cannot repeat over tests inside a repetition over backends, so the backend
/// list is walked by recursion, one module per step.
macro_rules! backend_tests {
    () => {};

    // The named sets.
    (every_index_in_memory => $tests:tt; $($rest:tt)*) => {
        backend_tests!([sqlite_memory, postgres_memory] => $tests; $($rest)*);
    };
    (every_index_on_local_disk => $tests:tt; $($rest:tt)*) => {
        backend_tests!([sqlite_local, postgres_local] => $tests; $($rest)*);
    };
    (every_index_on_s3 => $tests:tt; $($rest:tt)*) => {
        backend_tests!([sqlite_s3, postgres_s3] => $tests; $($rest)*);
    };
    (every_index_on_every_store => $tests:tt; $($rest:tt)*) => {
        backend_tests!(
            [
                sqlite_local,
                sqlite_memory,
                sqlite_s3,
                postgres_local,
                postgres_memory,
                postgres_s3,
                sqlite_azure,
                postgres_azure,
            ] => $tests;
            $($rest)*
        );
    };

    // A list of backends: one module per backend, then the next line.
    ([$($backend:ident),+ $(,)?] => $tests:tt; $($rest:tt)*) => {
        backend_tests!(@modules $tests $($backend)+);
        backend_tests!($($rest)*);
    };

    (@modules $tests:tt) => {};
    (@modules [$($test:ident),+ $(,)?] $backend:ident $($more:ident)*) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(backend_tests!(@backend $backend)).await
                }
            )+
        }
        backend_tests!(@modules [$($test),+] $($more)*);
    };

    (@backend sqlite_local) => { $crate::helpers::Backend::SQLITE_LOCAL };
    (@backend sqlite_memory) => { $crate::helpers::Backend::SQLITE_MEMORY };
    (@backend sqlite_s3) => { $crate::helpers::Backend::SQLITE_S3 };
    (@backend postgres_local) => { $crate::helpers::Backend::POSTGRES_LOCAL };
    (@backend postgres_memory) => { $crate::helpers::Backend::POSTGRES_MEMORY };
    (@backend postgres_s3) => { $crate::helpers::Backend::POSTGRES_S3 };
    (@backend sqlite_azure) => { $crate::helpers::Backend::SQLITE_AZURE };
    (@backend postgres_azure) => { $crate::helpers::Backend::POSTGRES_AZURE };
}
