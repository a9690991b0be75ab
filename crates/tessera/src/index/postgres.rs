//! PostgreSQL: the production index, shared by any number of Tessera nodes. Writers lock
//! the study row first, so concurrent batches for one study serialise and counts stay exact.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::index::IndexError;

/// A pool of connections to the database, without migrating.
pub async fn pool(url: &str, max_connections: u32) -> Result<AnyPool, IndexError> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(IndexError::db("connect"))
}
