//! API keys in the index ([`crate::auth::api_key::ApiKeyStore`]): every node reads the same
//! table, so a key revoked on one node is refused by all of them at their next request.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::sql::SqlIndex;
use crate::auth::api_key::{ApiKey, ApiKeyStore, KeyStoreError};

const COLUMNS: &str = "id, name, roles, partitions, created_at, last_used_at, revoked_at";

fn failed(operation: &str) -> impl FnOnce(sqlx::Error) -> KeyStoreError + '_ {
    move |err| KeyStoreError(format!("{operation}: {err}"))
}

fn key(row: &AnyRow) -> Result<ApiKey, KeyStoreError> {
    let read = |err: sqlx::Error| KeyStoreError(format!("reading an API key row: {err}"));
    Ok(ApiKey {
        id: row.try_get("id").map_err(read)?,
        name: row.try_get("name").map_err(read)?,
        roles: row.try_get("roles").map_err(read)?,
        partitions: row.try_get("partitions").map_err(read)?,
        created_at: row.try_get("created_at").map_err(read)?,
        last_used_at: row.try_get("last_used_at").map_err(read)?,
        revoked_at: row.try_get("revoked_at").map_err(read)?,
    })
}

#[async_trait]
impl ApiKeyStore for SqlIndex {
    async fn create_api_key(
        &self,
        name: &str,
        secret_hash: &str,
        roles: &str,
        partitions: Option<&str>,
        now_micros: i64,
    ) -> Result<bool, KeyStoreError> {
        let done = sqlx::query(
            "INSERT INTO api_keys (name, secret_hash, roles, partitions, created_at) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE name = $1 AND revoked_at IS NULL)",
        )
        .bind(name)
        .bind(secret_hash)
        .bind(roles)
        .bind(partitions)
        .bind(now_micros)
        .execute(self.pool())
        .await
        .map_err(failed("create API key"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, KeyStoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(failed("look up API key"))?;
        row.as_ref().map(key).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKey>, KeyStoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .map_err(failed("list API keys"))?;
        rows.iter().map(key).collect()
    }

    async fn revoke_api_key(&self, name: &str, now_micros: i64) -> Result<bool, KeyStoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(now_micros)
        .execute(self.pool())
        .await
        .map_err(failed("revoke API key"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch_api_key(&self, id: i64, now_micros: i64) -> Result<(), KeyStoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now_micros)
            .execute(self.pool())
            .await
            .map_err(failed("record API key use"))?;
        Ok(())
    }
}
