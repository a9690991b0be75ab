//! Opening the index named by a URL: a pool for its database, the schema brought up to date
//! (or checked), new extra query attributes back-filled.

use sqlx::AnyPool;

use super::dialect::Dialect;
use super::migrations::{self, MigrationReport, Migrations};
use super::sql::SqlIndex;
use super::{postgres, sqlite, IndexError};
use crate::query::extra::ExtraAttribute;

pub(super) async fn open(
    url: &str,
    max_connections: u32,
    extras: Vec<ExtraAttribute>,
    mode: Migrations,
) -> Result<SqlIndex, IndexError> {
    let (pool, dialect) = pool(url, max_connections).await?;
    let report = migrations::bring_up(&pool, dialect, mode).await?;
    for step in &report.applied {
        tracing::info!(version = step.version, description = %step.description, "index migrated");
    }
    let index = SqlIndex::new(pool, dialect, extras);
    let read = index.backfill_extra_attributes().await?;
    if read > 0 {
        tracing::info!(instances = read, "back-filled new extra query attributes");
    }
    Ok(index)
}

pub(super) async fn migrate(url: &str) -> Result<MigrationReport, IndexError> {
    let (pool, dialect) = pool(url, 1).await?;
    let report = migrations::bring_up(&pool, dialect, Migrations::Apply).await;
    pool.close().await;
    report
}

async fn pool(url: &str, max_connections: u32) -> Result<(AnyPool, Dialect), IndexError> {
    if url.starts_with("sqlite:") {
        Ok((sqlite::pool(url, max_connections).await?, Dialect::Sqlite))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok((
            postgres::pool(url, max_connections).await?,
            Dialect::Postgres,
        ))
    } else {
        Err(IndexError::InvalidUrl {
            url: url.split('@').next_back().unwrap_or_default().to_string(),
            reason: "use sqlite://path or postgres://user@host/db".into(),
        })
    }
}
