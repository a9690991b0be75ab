//! De-identification runs and their mapping tables in the index
//! ([`crate::jobs::MappingStore`]).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::SqlIndex;
use crate::jobs::{DeidRun, JobStoreError, MappingKind, MappingRow, MappingStore};

fn failed(operation: &str) -> impl FnOnce(sqlx::Error) -> JobStoreError + '_ {
    move |err| JobStoreError(format!("{operation}: {err}"))
}

#[async_trait]
impl MappingStore for SqlIndex {
    async fn start_deid_run(&self, run: &DeidRun) -> Result<(), JobStoreError> {
        sqlx::query(
            "INSERT INTO deid_runs (id, project, source, options, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&run.id)
        .bind(&run.project)
        .bind(&run.source)
        .bind(&run.options)
        .bind(run.created_by.as_deref())
        .bind(run.created_at)
        .execute(self.pool())
        .await
        .map_err(failed("record the de-identification run"))?;
        Ok(())
    }

    async fn deid_run(&self, id: &str) -> Result<Option<DeidRun>, JobStoreError> {
        let row = sqlx::query(
            "SELECT id, project, source, options, created_by, created_at FROM deid_runs \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(failed("read the de-identification run"))?;
        let Some(row) = row else { return Ok(None) };
        let read = failed("read the de-identification run");
        let run = (|| {
            Ok::<_, sqlx::Error>(DeidRun {
                id: row.try_get("id")?,
                project: row.try_get("project")?,
                source: row.try_get("source")?,
                options: row.try_get("options")?,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
            })
        })()
        .map_err(read)?;
        Ok(Some(run))
    }

    async fn add_mapping(&self, run: &str, rows: &[MappingRow]) -> Result<(), JobStoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await.map_err(failed("begin"))?;
        for row in rows {
            sqlx::query(
                "INSERT INTO deid_mapping (run_id, kind, original, replacement) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, kind, original) DO NOTHING",
            )
            .bind(run)
            .bind(row.kind.name())
            .bind(&row.original)
            .bind(&row.replacement)
            .execute(&mut *tx)
            .await
            .map_err(failed("record the mapping"))?;
        }
        tx.commit().await.map_err(failed("commit the mapping"))?;
        Ok(())
    }

    async fn mapping(
        &self,
        run: &str,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<MappingRow>, JobStoreError> {
        let rows = sqlx::query(
            "SELECT kind, original, replacement FROM deid_mapping WHERE run_id = $1 \
             ORDER BY kind, original LIMIT $2 OFFSET $3",
        )
        .bind(run)
        .bind(i64::from(limit))
        .bind(offset as i64)
        .fetch_all(self.pool())
        .await
        .map_err(failed("read the mapping"))?;
        rows.iter()
            .map(|row| {
                let read =
                    |err: sqlx::Error| JobStoreError(format!("reading a mapping row: {err}"));
                let kind: String = row.try_get("kind").map_err(read)?;
                Ok(MappingRow {
                    kind: MappingKind::parse(&kind)
                        .ok_or_else(|| JobStoreError(format!("unknown mapping kind {kind:?}")))?,
                    original: row.try_get("original").map_err(read)?,
                    replacement: row.try_get("replacement").map_err(read)?,
                })
            })
            .collect()
    }
}
