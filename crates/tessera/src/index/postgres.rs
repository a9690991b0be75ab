//! PostgreSQL: the production index, shared by any number of Tessera nodes. Writers lock
//! the study row first, so concurrent batches for one study serialise and counts stay exact.

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::index::{IndexError, PoolSettings};

/// A pool of connections to the database, without migrating.
pub async fn pool(url: &str, settings: PoolSettings) -> Result<AnyPool, IndexError> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect(url)
        .await
        .map_err(IndexError::db("connect"))
}
