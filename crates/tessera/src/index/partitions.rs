//! Partitions in the index: the registry (the `partitions` table of the default partition's
//! index, so every node knows the same ones), and each partition's own index, the same
//! schema in a place of its own:
//!
//! - SQLite: the file `partitions/{name}/index.db` beside the default's database file;
//! - PostgreSQL: the schema `p_{name}` of the same database, its connections' `search_path`
//!   set to it alone, so every statement of the index (and sqlx's `_sqlx_migrations`) reads
//!   and writes that schema's tables, unqualified, as they do the default's.
//!
//! So no query, cache or handler needs a partition column: a partition is the archive's code
//! over another index.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Connection, Executor, Row};

use super::dialect::Dialect;
use super::migrations::Migrations;
use super::open;
use super::sql::SqlIndex;
use super::{Index, IndexError, PoolSettings};
use crate::partition::{PartitionInfo, PartitionName};
use crate::query::extra::ExtraAttribute;

/// The partitions an archive has (kept in its default index).
#[async_trait]
pub trait PartitionRegistry: Send + Sync {
    /// Every registered partition, by name.
    async fn partitions(&self) -> Result<Vec<PartitionInfo>, IndexError>;
    /// One partition, when registered.
    async fn partition(&self, name: &PartitionName) -> Result<Option<PartitionInfo>, IndexError>;
    /// Register a partition; `Ok(false)` when one of that name is registered already.
    async fn register_partition(
        &self,
        name: &PartitionName,
        now_micros: i64,
    ) -> Result<bool, IndexError>;
}

fn info(row: &sqlx::any::AnyRow) -> Result<PartitionInfo, IndexError> {
    let name: String = row
        .try_get("name")
        .map_err(IndexError::db("read partition"))?;
    let created_at: i64 = row
        .try_get("created_at")
        .map_err(IndexError::db("read partition"))?;
    let name = PartitionName::parse(&name)
        .map_err(|err| IndexError::Corrupt(format!("partition registry: {err}")))?;
    Ok(PartitionInfo { name, created_at })
}

#[async_trait]
impl PartitionRegistry for SqlIndex {
    async fn partitions(&self) -> Result<Vec<PartitionInfo>, IndexError> {
        let rows = sqlx::query("SELECT name, created_at FROM partitions ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(IndexError::db("list partitions"))?;
        rows.iter().map(info).collect()
    }

    async fn partition(&self, name: &PartitionName) -> Result<Option<PartitionInfo>, IndexError> {
        let row = sqlx::query("SELECT name, created_at FROM partitions WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(IndexError::db("look up partition"))?;
        row.as_ref().map(info).transpose()
    }

    async fn register_partition(
        &self,
        name: &PartitionName,
        now_micros: i64,
    ) -> Result<bool, IndexError> {
        let done = sqlx::query(
            "INSERT INTO partitions (name, created_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(now_micros)
        .execute(self.pool())
        .await
        .map_err(IndexError::db("register partition"))?;
        Ok(done.rows_affected() == 1)
    }
}

/// Where partition `name` of the archive whose default index is `url` keeps its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionIndexPlace {
    /// A SQLite database at this URL.
    Sqlite(String),
    /// A PostgreSQL schema of the database at this URL.
    Postgres { url: String, schema: String },
}

/// Where a partition's index lives, from the default index's URL.
pub fn place(url: &str, name: &PartitionName) -> Result<PartitionIndexPlace, IndexError> {
    if url.starts_with("sqlite:") {
        let options =
            SqliteConnectOptions::from_str(url).map_err(|err| IndexError::InvalidUrl {
                url: url.to_string(),
                reason: err.to_string(),
            })?;
        let file = options.get_filename();
        let text = file.to_string_lossy();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if text.is_empty() || text == ":memory:" || in_memory {
            return Err(IndexError::InvalidUrl {
                url: url.to_string(),
                reason: "partitions need a SQLite database file, not an in-memory one".into(),
            });
        }
        let folder = file.parent().unwrap_or_else(|| std::path::Path::new(""));
        let path = folder
            .join("partitions")
            .join(name.as_str())
            .join("index.db");
        let query = url.split_once('?').map(|(_, q)| q);
        let mut partition_url = format!("sqlite://{}", path.display());
        if let Some(query) = query {
            partition_url.push('?');
            partition_url.push_str(query);
        }
        Ok(PartitionIndexPlace::Sqlite(partition_url))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(PartitionIndexPlace::Postgres {
            url: url.to_string(),
            schema: schema_of(name),
        })
    } else {
        Err(IndexError::InvalidUrl {
            url: url.split('@').next_back().unwrap_or_default().to_string(),
            reason: "use sqlite://path or postgres://user@host/db".into(),
        })
    }
}

/// The PostgreSQL schema of a partition. The name's characters need quoting only for `-`;
/// quoted, nothing in a checked name can end the identifier.
fn schema_of(name: &PartitionName) -> String {
    format!("p_{name}")
}

/// Open partition `name`'s index (creating its file or schema when missing, migrating as
/// `mode` says) beside the default index at `url`.
pub async fn open_partition(
    url: &str,
    name: &PartitionName,
    pool: PoolSettings,
    extras: Vec<ExtraAttribute>,
    mode: Migrations,
) -> Result<Arc<dyn Index>, IndexError> {
    match place(url, name)? {
        PartitionIndexPlace::Sqlite(url) => {
            Ok(Arc::new(open::open(&url, pool, extras, mode).await?))
        }
        PartitionIndexPlace::Postgres { url, schema } => {
            if mode == Migrations::Apply {
                create_schema(&url, &schema, pool).await?;
            }
            let pool = schema_pool(&url, &schema, pool).await?;
            Ok(Arc::new(
                open::open_on(pool, Dialect::Postgres, extras, mode).await?,
            ))
        }
    }
}

/// Apply the migrations partition `name`'s index has not had (`tessera migrate`).
pub async fn migrate_partition(
    url: &str,
    name: &PartitionName,
    acquire_timeout: std::time::Duration,
) -> Result<super::MigrationReport, IndexError> {
    let settings = PoolSettings {
        max_connections: 1,
        acquire_timeout,
    };
    match place(url, name)? {
        PartitionIndexPlace::Sqlite(url) => open::migrate(&url, acquire_timeout).await,
        PartitionIndexPlace::Postgres { url, schema } => {
            create_schema(&url, &schema, settings).await?;
            let pool = schema_pool(&url, &schema, settings).await?;
            let report = open::migrate_on(&pool, Dialect::Postgres).await;
            pool.close().await;
            report
        }
    }
}

/// `CREATE SCHEMA IF NOT EXISTS`, tolerating another node creating it at the same moment
/// (PostgreSQL may then answer a unique violation of its catalogue).
async fn create_schema(url: &str, schema: &str, settings: PoolSettings) -> Result<(), IndexError> {
    sqlx::any::install_default_drivers();
    let connect = sqlx::AnyConnection::connect(url);
    let mut conn = tokio::time::timeout(settings.acquire_timeout, connect)
        .await
        .map_err(|_| IndexError::Unavailable("connecting to create a partition's schema".into()))?
        .map_err(IndexError::db("connect"))?;
    let created = conn
        .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
        .await;
    let result = match created {
        Ok(_) => Ok(()),
        Err(err) => {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = $1",
            )
            .bind(schema)
            .fetch_optional(&mut conn)
            .await
            .map_err(IndexError::db("look up schema"))?;
            match exists {
                Some(_) => Ok(()),
                None => Err(IndexError::Database {
                    operation: "create partition schema",
                    source: err,
                }),
            }
        }
    };
    let _ = conn.close().await;
    result
}

/// A pool whose connections see only `schema`.
async fn schema_pool(
    url: &str,
    schema: &str,
    settings: PoolSettings,
) -> Result<AnyPool, IndexError> {
    sqlx::any::install_default_drivers();
    let set_path: Arc<str> = Arc::from(format!("SET search_path TO \"{schema}\""));
    AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(move |conn, _meta| {
            let set_path = Arc::clone(&set_path);
            Box::pin(async move {
                conn.execute(&*set_path).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(IndexError::db("connect"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_indexes_live_beside_the_default() {
        let name = PartitionName::parse("research-1").unwrap();
        assert_eq!(
            place("sqlite:///var/lib/tessera/index.db", &name).unwrap(),
            PartitionIndexPlace::Sqlite(
                "sqlite:///var/lib/tessera/partitions/research-1/index.db".into()
            )
        );
        assert_eq!(
            place("sqlite:///d/index.db?mode=rwc", &name).unwrap(),
            PartitionIndexPlace::Sqlite(
                "sqlite:///d/partitions/research-1/index.db?mode=rwc".into()
            )
        );
        assert_eq!(
            place("postgres://u@h/db", &name).unwrap(),
            PartitionIndexPlace::Postgres {
                url: "postgres://u@h/db".into(),
                schema: "p_research-1".into()
            }
        );
        assert!(place("sqlite::memory:", &name).is_err());
        assert!(place("mysql://h/db", &name).is_err());
    }
}
