//! The schema's migrations: applied at start (the default), by `tessera migrate` alone, or
//! only checked, for deployments where the serving account may not change the schema.

use sqlx::migrate::Migrator;
use sqlx::AnyPool;

use super::dialect::Dialect;
use super::IndexError;

static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");

/// What to do with migrations that the database has not had yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply them (PostgreSQL's migrator takes an advisory lock: nodes starting together
    /// migrate once).
    Apply,
    /// Refuse to start while any is missing.
    Require,
}

/// One migration: its version and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStep {
    pub version: i64,
    pub description: String,
}

/// Where the schema stood and what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Applied by this call, oldest first.
    pub applied: Vec<MigrationStep>,
    /// The newest version this build knows.
    pub latest: i64,
}

fn migrator(dialect: Dialect) -> &'static Migrator {
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

/// The migrations this build knows and the database has not recorded as applied.
async fn missing(pool: &AnyPool, dialect: Dialect) -> Result<Vec<MigrationStep>, IndexError> {
    // No table yet means nothing applied; any other failure is the database's.
    let exists: bool = match dialect {
        Dialect::Sqlite => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(pool)
        .await
        .map_err(IndexError::db("read the migrations"))?
            > 0,
        Dialect::Postgres => {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await
            .map_err(IndexError::db("read the migrations"))?
                > 0
        }
    };
    let applied: Vec<i64> = if exists {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(pool)
            .await
            .map_err(IndexError::db("read the migrations"))?
    } else {
        Vec::new()
    };
    Ok(migrator(dialect)
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| MigrationStep {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect())
}

/// Bring the schema up to date, or check that it is.
pub(super) async fn bring_up(
    pool: &AnyPool,
    dialect: Dialect,
    mode: Migrations,
) -> Result<MigrationReport, IndexError> {
    let missing = missing(pool, dialect).await?;
    let latest = migrator(dialect)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    if missing.is_empty() {
        return Ok(MigrationReport {
            applied: Vec::new(),
            latest,
        });
    }
    if mode == Migrations::Require {
        let names: Vec<String> = missing
            .iter()
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect();
        return Err(IndexError::Unavailable(format!(
            "the index schema is not up to date (missing: {}); run `tessera migrate` first, \
             or start with --migrate true",
            names.join(", ")
        )));
    }
    migrator(dialect).run(pool).await?;
    Ok(MigrationReport {
        applied: missing,
        latest,
    })
}
