//! Macros the test modules share.

/// One `#[tokio::test]` per (test, index): `module::sqlite::x` and `module::postgres::x`, each
/// calling `x(IndexKind)` of the module (which must have `IndexKind` in scope).
macro_rules! on_both_indexes {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::IndexKind::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::IndexKind::Postgres).await
                }
            )*
        }
    };
}
