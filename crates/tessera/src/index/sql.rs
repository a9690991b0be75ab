//! The SQL index shared by SQLite and PostgreSQL (through sqlx's `Any` driver).
//!
//! Every value is a bind parameter. Reads live here; the STOW batch writer is in
//! [`super::write`].

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::changes::{self, ChangeEntry};
use super::dialect::Dialect;
use super::group::GroupWriter;
use super::model::{
    BlobRow, CountMismatch, DeleteTarget, Deleted, InstanceDocument, InstanceRow, NewInstance,
    SearchRow, SeriesRow, StoreOutcome, StudyRow,
};
use super::statements::{now_micros, placeholders};
use super::upkeep::insert_extra_values;
use super::workers;
use super::write::BatchWriter;
use super::Index;
use crate::audit::AuditLog;
use crate::auth::api_key::ApiKeyStore;
use crate::index::DuplicatePolicy;
use crate::index::IndexError;
use crate::query::extra::ExtraAttribute;
use crate::query::SearchQuery;
use crate::storage::BlobKey;
use tessera_dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};

/// An index over an sqlx `Any` pool.
pub struct SqlIndex {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite has one writer: its writes go through a group-commit task.
    group: Option<GroupWriter>,
    extras: Arc<Vec<ExtraAttribute>>,
}

impl SqlIndex {
    /// Rows of `select` (which names the instances `i`, and the series `se` when `ordered`)
    /// for the instances of a study, series or instance; in WADO-RS order when `ordered`.
    async fn fetch_scope(
        &self,
        select: &str,
        (study, series, sop): (&StudyUid, Option<&SeriesUid>, Option<&SopInstanceUid>),
        ordered: bool,
        what: &'static str,
    ) -> Result<Vec<AnyRow>, IndexError> {
        let (mut sql, values) = scope_query(select, study, series, sop);
        if ordered {
            sql.push_str(INSTANCE_ORDER);
        }
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(IndexError::db(what))
    }

    /// The pool, for the tables kept beside the archive's (API keys, the audit trail).
    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that writes, holding SQLite's write lock from its start
    /// (`Dialect::begin_write`).
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool.begin_with(self.dialect.begin_write()).await
    }

    pub fn new(pool: AnyPool, dialect: Dialect, extras: Vec<ExtraAttribute>) -> Self {
        let extras = Arc::new(extras);
        let group = (dialect == Dialect::Sqlite)
            .then(|| GroupWriter::start(pool.clone(), Arc::clone(&extras)));
        SqlIndex {
            pool,
            dialect,
            group,
            extras,
        }
    }

    /// Index the values of extra query attributes that were added since the last start, from
    /// the stored metadata of every instance (PS3.18 leaves this to the archive; Orthanc calls
    /// it reconstruction, Azure re-indexing). Returns how many instances were read.
    pub async fn backfill_extra_attributes(&self) -> Result<u64, IndexError> {
        let known: Vec<String> = sqlx::query_scalar("SELECT tag FROM extra_query_tags")
            .fetch_all(&self.pool)
            .await
            .map_err(IndexError::db("read extra tags"))?;
        let missing: Vec<ExtraAttribute> = self
            .extras
            .iter()
            .filter(|e| !known.contains(&e.tag_hex))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let mut after = String::new();
        let mut read = 0u64;
        loop {
            let rows = sqlx::query(
                "SELECT sop_uid, series_uid, study_uid, metadata FROM instances \
                 WHERE sop_uid > $1 ORDER BY sop_uid LIMIT 500",
            )
            .bind(after.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(IndexError::db("back-fill extra attributes"))?;
            let Some(last) = rows.last() else { break };
            after = last
                .try_get("sop_uid")
                .map_err(IndexError::db("back-fill"))?;
            let mut tx = self.begin_write().await.map_err(IndexError::db("begin"))?;
            for row in &rows {
                let get = |c: &str| {
                    row.try_get::<String, _>(c)
                        .map_err(IndexError::db("back-fill"))
                };
                let owners = [get("study_uid")?, get("series_uid")?, get("sop_uid")?];
                let metadata = get("metadata")?;
                insert_extra_values(&mut tx, &missing, &owners, &metadata).await?;
                read += 1;
            }
            tx.commit().await.map_err(IndexError::db("commit"))?;
        }
        for extra in &missing {
            sqlx::query(
                "INSERT INTO extra_query_tags (tag, level, vr, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tag) DO NOTHING",
            )
            .bind(extra.tag_hex.as_str())
            .bind(extra.level.name())
            .bind(extra.vr.as_str())
            .bind(now_micros())
            .execute(&self.pool)
            .await
            .map_err(IndexError::db("record extra tag"))?;
        }
        Ok(read)
    }
}

fn split_multi(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split('\\')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl SqlIndex {
    async fn fetch_in(
        &self,
        sql_prefix: &str,
        column: &str,
        values: &[&str],
    ) -> Result<HashSet<String>, IndexError> {
        let mut found = HashSet::new();
        for chunk in values.chunks(500) {
            let sql = format!("{sql_prefix} IN ({})", placeholders(1, chunk.len()));
            let mut query = sqlx::query(&sql);
            for value in chunk {
                query = query.bind(*value);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(IndexError::db("lookup"))?;
            for row in rows {
                found.insert(
                    row.try_get::<String, _>(column)
                        .map_err(IndexError::db("lookup"))?,
                );
            }
        }
        Ok(found)
    }
}

fn study_row(row: &AnyRow) -> Result<StudyRow, sqlx::Error> {
    Ok(StudyRow {
        study_uid: row.try_get("study_uid")?,
        patient_name: row.try_get("patient_name")?,
        patient_id: row.try_get("patient_id")?,
        patient_birth_date: row.try_get("patient_birth_date")?,
        patient_sex: row.try_get("patient_sex")?,
        study_date: row.try_get("study_date")?,
        study_time: row.try_get("study_time")?,
        accession_number: row.try_get("accession_number")?,
        study_id: row.try_get("study_id")?,
        study_description: row.try_get("study_description")?,
        referring_physician_name: row.try_get("referring_physician_name")?,
        modalities_in_study: split_multi(row.try_get("modalities_in_study")?),
        sop_classes_in_study: split_multi(row.try_get("sop_classes_in_study")?),
        num_series: row.try_get("num_series")?,
        num_instances: row.try_get("num_instances")?,
    })
}

/// `select` restricted to a study, optionally a series and an instance; the bind values.
/// Every instance column but the metadata: what a frame, a rendered image or a retrieve's
/// replacement check needs (the frames hot path then copies no DICOM JSON).
const LOCATOR_COLUMNS: &str = "sop_uid, series_uid, study_uid, sop_class_uid, instance_number, \
     num_rows, num_columns, bits_allocated, number_of_frames, transfer_syntax_uid, blob_key, \
     blob_size, frames, updated_at";

/// Series number, series, instance number, instance: the order of WADO-RS answers.
const INSTANCE_ORDER: &str = " ORDER BY COALESCE(se.series_number, 0), se.series_uid, \
     COALESCE(i.instance_number, 0), i.sop_uid";

fn scope_query<'a>(
    select: &str,
    study: &'a StudyUid,
    series: Option<&'a SeriesUid>,
    sop: Option<&'a SopInstanceUid>,
) -> (String, Vec<&'a str>) {
    let mut sql = format!("{select} WHERE i.study_uid = $1");
    let mut values = vec![study.as_str()];
    if let Some(series) = series {
        values.push(series.as_str());
        sql.push_str(&format!(" AND i.series_uid = ${}", values.len()));
    }
    if let Some(sop) = sop {
        values.push(sop.as_str());
        sql.push_str(&format!(" AND i.sop_uid = ${}", values.len()));
    }
    (sql, values)
}

fn instance_row(row: &AnyRow) -> Result<InstanceRow, IndexError> {
    let read = || -> Result<(InstanceRow, Option<String>), sqlx::Error> {
        let blob_size: i64 = row.try_get("blob_size")?;
        let blob_key: String = row.try_get("blob_key")?;
        Ok((
            InstanceRow {
                sop_uid: row.try_get("sop_uid")?,
                series_uid: row.try_get("series_uid")?,
                study_uid: row.try_get("study_uid")?,
                sop_class_uid: row.try_get("sop_class_uid")?,
                instance_number: row.try_get("instance_number")?,
                rows: row.try_get("num_rows")?,
                columns: row.try_get("num_columns")?,
                bits_allocated: row.try_get("bits_allocated")?,
                number_of_frames: row.try_get("number_of_frames")?,
                transfer_syntax_uid: row.try_get("transfer_syntax_uid")?,
                blob_key: BlobKey::from_stored(blob_key),
                blob_size: blob_size as u64,
                frames: None,
                // Absent from the single-instance lookup, which has no use for it.
                metadata: match row.try_get("metadata") {
                    Err(sqlx::Error::ColumnNotFound(_)) => String::new(),
                    other => other?,
                },
                updated_at: row.try_get("updated_at")?,
            },
            row.try_get("frames")?,
        ))
    };
    let (mut out, frames) = read().map_err(IndexError::db("read instance"))?;
    out.frames = match frames {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|err| IndexError::Corrupt(format!("frames: {err}")))?,
        ),
        None => None,
    };
    Ok(out)
}

#[async_trait]
impl Index for SqlIndex {
    fn api_key_store(self: Arc<Self>) -> Arc<dyn ApiKeyStore> {
        self
    }

    fn audit_log(self: Arc<Self>) -> Arc<dyn AuditLog> {
        self
    }

    fn job_store(self: Arc<Self>) -> Arc<dyn crate::jobs::JobStore> {
        self
    }

    fn partition_registry(self: Arc<Self>) -> Arc<dyn super::PartitionRegistry> {
        self
    }

    fn backend(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    async fn health(&self) -> Result<(), IndexError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(IndexError::db("health check"))?;
        Ok(())
    }

    async fn store(
        &self,
        batch: Vec<NewInstance>,
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(group) = &self.group {
            return group.store(batch, policy).await;
        }
        let mut tx = self.begin_write().await.map_err(IndexError::db("begin"))?;
        let outcomes = BatchWriter::new(&mut tx, self.dialect, &self.extras)
            .write(&batch, policy)
            .await?;
        tx.commit().await.map_err(IndexError::db("commit"))?;
        Ok(outcomes)
    }

    async fn referenced_blobs(&self, keys: &[BlobKey]) -> Result<HashSet<String>, IndexError> {
        let values: Vec<&str> = keys.iter().map(BlobKey::as_str).collect();
        self.fetch_in(
            "SELECT blob_key FROM instances WHERE blob_key",
            "blob_key",
            &values,
        )
        .await
    }

    async fn study(&self, uid: &StudyUid) -> Result<Option<StudyRow>, IndexError> {
        let row = sqlx::query("SELECT * FROM studies WHERE study_uid = $1")
            .bind(uid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(IndexError::db("read study"))?;
        row.as_ref()
            .map(study_row)
            .transpose()
            .map_err(IndexError::db("read study"))
    }

    async fn series(&self, uid: &SeriesUid) -> Result<Option<SeriesRow>, IndexError> {
        let row = sqlx::query(
            "SELECT series_uid, study_uid, modality, series_number, series_description, \
             num_instances FROM series WHERE series_uid = $1",
        )
        .bind(uid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(IndexError::db("read series"))?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> Result<SeriesRow, sqlx::Error> {
            Ok(SeriesRow {
                series_uid: row.try_get("series_uid")?,
                study_uid: row.try_get("study_uid")?,
                modality: row.try_get("modality")?,
                series_number: row.try_get("series_number")?,
                series_description: row.try_get("series_description")?,
                num_instances: row.try_get("num_instances")?,
            })
        };
        read().map(Some).map_err(IndexError::db("read series"))
    }

    async fn instance(&self, uid: &SopInstanceUid) -> Result<Option<InstanceRow>, IndexError> {
        let row = sqlx::query(&format!(
            "SELECT {LOCATOR_COLUMNS} FROM instances WHERE sop_uid = $1"
        ))
        .bind(uid.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(IndexError::db("read instance"))?;
        row.as_ref().map(instance_row).transpose()
    }

    async fn instances_of(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<InstanceRow>, IndexError> {
        let rows = self
            .fetch_scope(
                "SELECT i.* FROM instances i JOIN series se ON se.series_uid = i.series_uid",
                (study, series, sop),
                true,
                "read instances",
            )
            .await?;
        rows.iter().map(instance_row).collect()
    }

    async fn instance_documents(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<InstanceDocument>, IndexError> {
        let rows = self
            .fetch_scope(
                "SELECT i.sop_uid, i.series_uid, i.study_uid, i.metadata, i.updated_at \
                 FROM instances i JOIN series se ON se.series_uid = i.series_uid",
                (study, series, sop),
                true,
                "read instance metadata",
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(InstanceDocument {
                    sop_uid: row.try_get("sop_uid")?,
                    series_uid: row.try_get("series_uid")?,
                    study_uid: row.try_get("study_uid")?,
                    metadata: row.try_get("metadata")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(IndexError::db("read instance metadata"))
    }

    async fn instance_versions(
        &self,
        study: &StudyUid,
        series: Option<&SeriesUid>,
        sop: Option<&SopInstanceUid>,
    ) -> Result<Vec<(String, i64)>, IndexError> {
        let rows = self
            .fetch_scope(
                "SELECT i.sop_uid, i.updated_at FROM instances i",
                (study, series, sop),
                false,
                "read instance versions",
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("sop_uid")?, row.try_get("updated_at")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(IndexError::db("read instance versions"))
    }

    async fn counts(&self) -> Result<(i64, i64, i64), IndexError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM studies) AS a, (SELECT COUNT(*) FROM series) AS b, \
             (SELECT COUNT(*) FROM instances) AS c",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(IndexError::db("count"))?;
        let get = |name: &str| row.try_get::<i64, _>(name).map_err(IndexError::db("count"));
        Ok((get("a")?, get("b")?, get("c")?))
    }

    async fn delete(&self, target: DeleteTarget) -> Result<Option<Deleted>, IndexError> {
        if let Some(group) = &self.group {
            return group.delete(target).await;
        }
        let mut tx = self.begin_write().await.map_err(IndexError::db("begin"))?;
        let deleted = super::delete::delete(&mut tx, self.dialect, &target).await?;
        tx.commit().await.map_err(IndexError::db("commit"))?;
        Ok(deleted)
    }

    async fn changes(
        &self,
        after: i64,
        limit: u32,
        with_metadata: bool,
    ) -> Result<Vec<ChangeEntry>, IndexError> {
        changes::read(&self.pool, after, limit, with_metadata).await
    }

    async fn latest_change(
        &self,
        study: Option<&StudyUid>,
    ) -> Result<Option<ChangeEntry>, IndexError> {
        changes::latest(&self.pool, study.map(StudyUid::as_str)).await
    }

    async fn claim_worker(
        &self,
        name: &str,
        holder: &str,
        lease_micros: i64,
    ) -> Result<Option<i64>, IndexError> {
        workers::claim(&self.pool, name, holder, lease_micros).await
    }

    async fn advance_worker(
        &self,
        name: &str,
        holder: &str,
        cursor: i64,
        last_error: Option<&str>,
    ) -> Result<bool, IndexError> {
        workers::advance(&self.pool, name, holder, cursor, last_error).await
    }

    async fn release_worker(&self, name: &str, holder: &str) -> Result<(), IndexError> {
        workers::release(&self.pool, name, holder).await
    }

    async fn worker_cursor(&self, name: &str) -> Result<i64, IndexError> {
        workers::cursor(&self.pool, name).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchRow>, IndexError> {
        super::search::run(&self.pool, self.dialect, query).await
    }

    async fn count_matches(&self, query: &SearchQuery) -> Result<u64, IndexError> {
        super::search::count(&self.pool, self.dialect, query).await
    }

    async fn explain(&self, query: &SearchQuery) -> Result<String, IndexError> {
        super::search::explain(&self.pool, self.dialect, query).await
    }

    async fn analyze(&self) -> Result<(), IndexError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(IndexError::db("analyze"))?;
        if self.dialect == Dialect::Sqlite {
            // A sample of each index, not all of it: milliseconds at a million instances.
            sqlx::query("PRAGMA analysis_limit = 1000")
                .execute(&mut *conn)
                .await
                .map_err(IndexError::db("analyze"))?;
        }
        sqlx::query("ANALYZE")
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("analyze"))?;
        if self.dialect == Dialect::Sqlite {
            // A SQLite connection reads the statistics when it loads the schema, and ANALYZE
            // elsewhere does not make it load them again: every idle connection of the pool
            // reloads them now; one busy at this moment does when the pool replaces it.
            let mut idle = Vec::new();
            while let Some(other) = self.pool.try_acquire() {
                idle.push(other);
            }
            for other in &mut idle {
                sqlx::query("ANALYZE sqlite_schema")
                    .execute(&mut **other)
                    .await
                    .map_err(IndexError::db("analyze"))?;
            }
        }
        Ok(())
    }

    async fn blob_rows(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlobRow>, IndexError> {
        self.read_blob_rows(after, limit).await
    }

    async fn count_mismatches(&self) -> Result<Vec<CountMismatch>, IndexError> {
        self.find_count_mismatches().await
    }

    async fn recount(&self, study: &str) -> Result<(), IndexError> {
        self.recount_whole_study(study).await
    }
}
