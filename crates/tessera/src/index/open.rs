//! Opening the index named by a URL: a pool for its database, the schema brought up to date
//! (or checked), new extra query attributes back-filled.

use std::time::Duration;

use sqlx::AnyPool;

use super::dialect::Dialect;
use super::migrations::{self, MigrationReport, Migrations};
use super::pool::PoolSettings;
use super::sql::SqlIndex;
use super::{postgres, sqlite, IndexError};
use crate::query::extra::ExtraAttribute;

pub(super) async fn open(
    url: &str,
    settings: PoolSettings,
    extras: Vec<ExtraAttribute>,
    mode: Migrations,
) -> Result<SqlIndex, IndexError> {
    let (pool, dialect) = pool(url, settings).await?;
    open_on(pool, dialect, extras, mode).await
}

/// [`open`] on a pool already made (a partition's PostgreSQL schema, `super::partitions`).
pub(super) async fn open_on(
    pool: AnyPool,
    dialect: Dialect,
    extras: Vec<ExtraAttribute>,
    mode: Migrations,
) -> Result<SqlIndex, IndexError> {
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

pub(super) async fn migrate(
    url: &str,
    acquire_timeout: Duration,
) -> Result<MigrationReport, IndexError> {
    let settings = PoolSettings {
        max_connections: 1,
        acquire_timeout,
    };
    let (pool, dialect) = pool(url, settings).await?;
    let report = migrate_on(&pool, dialect).await;
    pool.close().await;
    report
}

/// [`migrate`] on a pool already made.
pub(super) async fn migrate_on(
    pool: &AnyPool,
    dialect: Dialect,
) -> Result<MigrationReport, IndexError> {
    migrations::bring_up(pool, dialect, Migrations::Apply).await
}

async fn pool(url: &str, settings: PoolSettings) -> Result<(AnyPool, Dialect), IndexError> {
    if url.starts_with("sqlite:") {
        Ok((sqlite::pool(url, settings).await?, Dialect::Sqlite))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok((postgres::pool(url, settings).await?, Dialect::Postgres))
    } else {
        Err(IndexError::InvalidUrl {
            url: url.split('@').next_back().unwrap_or_default().to_string(),
            reason: "use sqlite://path or postgres://user@host/db".into(),
        })
    }
}
