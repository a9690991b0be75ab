//! SQLite: the embedded default. WAL journal, synchronous=FULL so that a committed STOW
//! survives power loss, one writer: requests are written by a group-commit task ([`super::group`]).

use std::str::FromStr;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::AnyPool;
use sqlx::Executor;

use crate::index::{IndexError, PoolSettings};

/// A pool of connections to the database file (created when missing), without migrating.
pub async fn pool(url: &str, settings: PoolSettings) -> Result<AnyPool, IndexError> {
    sqlx::any::install_default_drivers();
    // Validate the URL and create the parent folder of the database file.
    let options = SqliteConnectOptions::from_str(url).map_err(|err| IndexError::InvalidUrl {
        url: url.to_string(),
        reason: err.to_string(),
    })?;
    let file = options.get_filename().to_path_buf();
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Synced: the database's folder must survive a power cut along with the database.
        crate::storage::create_folder_synced(parent).map_err(|err| IndexError::InvalidUrl {
            url: url.to_string(),
            reason: format!("cannot create {}: {err}", parent.display()),
        })?;
    }
    let url = if url.contains('?') {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    };
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(IndexError::db("connect"))?;
    Ok(pool)
}
