//! Feed workers: a named cursor into the change feed and a lease saying which node works it,
//! so that with several nodes on one database one of them pushes at a time, and another takes
//! over when its lease runs out.

use sqlx::AnyPool;

use super::statements::now_micros;
use crate::index::IndexError;

/// Take or renew the lease of worker `name` for `holder` until `lease_micros` from now.
/// Returns the worker's cursor when `holder` has the lease.
pub(super) async fn claim(
    pool: &AnyPool,
    name: &str,
    holder: &str,
    lease_micros: i64,
) -> Result<Option<i64>, IndexError> {
    sqlx::query("INSERT INTO feed_workers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(pool)
        .await
        .map_err(IndexError::db("create worker"))?;
    let now = now_micros();
    sqlx::query_scalar(
        "UPDATE feed_workers SET holder = $2, lease_until = $3, updated_at = $4 \
         WHERE name = $1 AND (holder = $2 OR holder IS NULL OR lease_until < $4) \
         RETURNING cursor",
    )
    .bind(name)
    .bind(holder)
    .bind(now + lease_micros)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(IndexError::db("claim worker"))
}

/// Move the cursor of worker `name` if `holder` still has its lease; returns whether it did.
pub(super) async fn advance(
    pool: &AnyPool,
    name: &str,
    holder: &str,
    cursor: i64,
    last_error: Option<&str>,
) -> Result<bool, IndexError> {
    let done = sqlx::query(
        "UPDATE feed_workers SET cursor = $3, last_error = $4, updated_at = $5 \
         WHERE name = $1 AND holder = $2",
    )
    .bind(name)
    .bind(holder)
    .bind(cursor)
    .bind(last_error)
    .bind(now_micros())
    .execute(pool)
    .await
    .map_err(IndexError::db("advance worker"))?;
    Ok(done.rows_affected() == 1)
}

/// The cursor of worker `name` (0 when it never ran).
pub(super) async fn cursor(pool: &AnyPool, name: &str) -> Result<i64, IndexError> {
    let cursor: Option<i64> = sqlx::query_scalar("SELECT cursor FROM feed_workers WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(IndexError::db("read worker"))?;
    Ok(cursor.unwrap_or(0))
}

/// Give up the lease of worker `name` if `holder` has it (at shutdown, so that another node or
/// the next start need not wait for it to run out).
pub(super) async fn release(pool: &AnyPool, name: &str, holder: &str) -> Result<(), IndexError> {
    sqlx::query(
        "UPDATE feed_workers SET holder = NULL, lease_until = 0 WHERE name = $1 AND holder = $2",
    )
    .bind(name)
    .bind(holder)
    .execute(pool)
    .await
    .map_err(IndexError::db("release worker"))?;
    Ok(())
}
