//! PostgreSQL: the production index, shared by any number of Tessera nodes. Writers lock
//! the study row first, so concurrent batches for one study serialise and counts stay exact.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;

use super::dialect::Dialect;
use super::sql::SqlIndex;
use crate::index::IndexError;
use crate::query::extra::ExtraAttribute;

pub async fn connect(
    url: &str,
    max_connections: u32,
    extras: Vec<ExtraAttribute>,
) -> Result<SqlIndex, IndexError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(IndexError::db("connect"))?;
    // The migrator takes an advisory lock, so nodes starting together migrate once.
    sqlx::migrate!("../../migrations/postgres")
        .run(&pool)
        .await?;
    Ok(SqlIndex::new(pool, Dialect::Postgres, extras))
}
