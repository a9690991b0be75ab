//! The SQL index shared by SQLite and PostgreSQL (through sqlx's `Any` driver).
//!
//! Every value is a bind parameter. A STOW batch is one transaction: study row first (on
//! PostgreSQL that row lock serialises writers of one study across nodes), then series and
//! instances, then the counts and ModalitiesInStudy of every study and series it touched.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Row};

use super::model::{InstanceRow, NewInstance, SeriesRow, StoreOutcome, StudyRow};
use super::Index;
use crate::config::DuplicatePolicy;
use crate::dicom::uid::{SeriesUid, SopInstanceUid, StudyUid};
use crate::error::IndexError;
use crate::storage::BlobKey;

/// The few places where the two databases need different words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// An index over an sqlx `Any` pool.
pub struct SqlIndex {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite allows one writer; queueing here beats SQLITE_BUSY retries.
    write_lock: Option<tokio::sync::Mutex<()>>,
}

impl SqlIndex {
    pub fn new(pool: AnyPool, dialect: Dialect) -> Self {
        let write_lock = (dialect == Dialect::Sqlite).then(|| tokio::sync::Mutex::new(()));
        SqlIndex {
            pool,
            dialect,
            write_lock,
        }
    }
}

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

const INSTANCE_COLUMNS: &str = "sop_uid, series_uid, study_uid, sop_class_uid, instance_number, \
     num_rows, num_columns, bits_allocated, samples_per_pixel, number_of_frames, \
     photometric_interpretation, transfer_syntax_uid, blob_key, blob_size, frames, metadata, \
     created_at, updated_at";

/// The serialised parts of an instance row.
struct InstanceValues {
    frames: Option<String>,
    metadata: String,
}

impl InstanceValues {
    fn of(item: &NewInstance) -> Result<Self, IndexError> {
        let frames = match &item.extracted.frames {
            Some(frames) => Some(
                serde_json::to_string(frames)
                    .map_err(|err| IndexError::Corrupt(format!("frames: {err}")))?,
            ),
            None => None,
        };
        let metadata = serde_json::to_string(&item.extracted.metadata)
            .map_err(|err| IndexError::Corrupt(format!("metadata: {err}")))?;
        Ok(InstanceValues { frames, metadata })
    }
}

/// Bind the 18 instance columns in [`INSTANCE_COLUMNS`] order.
fn bind_instance<'q>(
    query: AnyQuery<'q>,
    item: &'q NewInstance,
    values: &'q InstanceValues,
    now: i64,
) -> AnyQuery<'q> {
    let ex = &item.extracted;
    let i = &ex.instance;
    query
        .bind(ex.sop_uid.as_str())
        .bind(ex.series_uid.as_str())
        .bind(ex.study_uid.as_str())
        .bind(ex.sop_class.as_str())
        .bind(i.instance_number)
        .bind(i.rows)
        .bind(i.columns)
        .bind(i.bits_allocated)
        .bind(i.samples_per_pixel)
        .bind(i.number_of_frames)
        .bind(i.photometric_interpretation.as_deref())
        .bind(ex.transfer_syntax.as_str())
        .bind(item.blob_key.as_str())
        .bind(item.blob_size as i64)
        .bind(values.frames.as_deref())
        .bind(values.metadata.as_str())
        .bind(now)
        .bind(now)
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
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
    async fn store_in(
        &self,
        conn: &mut AnyConnection,
        batch: &[NewInstance],
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError> {
        let now = now_micros();
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&batch[a].extracted, &batch[b].extracted);
            (&x.study_uid, &x.series_uid, &x.sop_uid).cmp(&(
                &y.study_uid,
                &y.series_uid,
                &y.sop_uid,
            ))
        });
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];
        let mut touched_studies = BTreeSet::new();
        let mut touched_series = BTreeSet::new();
        let mut study_source: BTreeMap<String, usize> = BTreeMap::new();
        let mut series_source: BTreeMap<String, usize> = BTreeMap::new();
        let mut current_study: Option<&StudyUid> = None;

        for &idx in &order {
            let item = &batch[idx];
            let ex = &item.extracted;
            if current_study != Some(&ex.study_uid) {
                self.lock_study(conn, ex.study_uid.as_str(), now).await?;
                touched_studies.insert(ex.study_uid.to_string());
                current_study = Some(&ex.study_uid);
            }
            sqlx::query(
                "INSERT INTO series (series_uid, study_uid, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (series_uid) DO NOTHING",
            )
            .bind(ex.series_uid.as_str())
            .bind(ex.study_uid.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("insert series"))?;
            let owner: String =
                sqlx::query_scalar("SELECT study_uid FROM series WHERE series_uid = $1")
                    .bind(ex.series_uid.as_str())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(IndexError::db("read series"))?;
            if owner != ex.study_uid.as_str() {
                outcomes[idx] = Some(StoreOutcome::SeriesInOtherStudy {
                    existing_study: owner,
                });
                continue;
            }
            touched_series.insert(ex.series_uid.to_string());
            let values = InstanceValues::of(item)?;
            let sql = format!(
                "INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES ({}) \
                 ON CONFLICT (sop_uid) DO NOTHING RETURNING sop_uid",
                placeholders(1, 18)
            );
            let inserted = bind_instance(sqlx::query(&sql), item, &values, now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(IndexError::db("insert instance"))?;
            let outcome = if inserted.is_some() {
                StoreOutcome::Stored
            } else {
                self.resolve_duplicate(
                    conn,
                    item,
                    &values,
                    policy,
                    now,
                    &mut touched_studies,
                    &mut touched_series,
                )
                .await?
            };
            if outcome.keeps_new_blob() {
                study_source.insert(ex.study_uid.to_string(), idx);
                series_source.insert(ex.series_uid.to_string(), idx);
            }
            outcomes[idx] = Some(outcome);
        }

        for (study, idx) in &study_source {
            update_study_attributes(conn, study, &batch[*idx], now).await?;
        }
        for (series, idx) in &series_source {
            update_series_attributes(conn, series, &batch[*idx], now).await?;
        }
        for series in &touched_series {
            recount_series(conn, series).await?;
        }
        for study in &touched_studies {
            recount_study(conn, study, now).await?;
        }
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| IndexError::Corrupt("instance without outcome".into())))
            .collect()
    }

    /// Make sure the study row exists and, on PostgreSQL, hold its lock until commit.
    async fn lock_study(
        &self,
        conn: &mut AnyConnection,
        study: &str,
        now: i64,
    ) -> Result<(), IndexError> {
        sqlx::query(
            "INSERT INTO studies (study_uid, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (study_uid) DO NOTHING",
        )
        .bind(study)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("insert study"))?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT study_uid FROM studies WHERE study_uid = $1 FOR UPDATE")
                .bind(study)
                .fetch_one(&mut *conn)
                .await
                .map_err(IndexError::db("lock study"))?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn resolve_duplicate(
        &self,
        conn: &mut AnyConnection,
        item: &NewInstance,
        values: &InstanceValues,
        policy: DuplicatePolicy,
        now: i64,
        touched_studies: &mut BTreeSet<String>,
        touched_series: &mut BTreeSet<String>,
    ) -> Result<StoreOutcome, IndexError> {
        let ex = &item.extracted;
        let sql = format!(
            "SELECT blob_key, study_uid, series_uid FROM instances WHERE sop_uid = $1{}",
            self.dialect.for_update()
        );
        let row = sqlx::query(&sql)
            .bind(ex.sop_uid.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(IndexError::db("read duplicate"))?;
        let old_blob: String = row
            .try_get("blob_key")
            .map_err(IndexError::db("read duplicate"))?;
        let old_study: String = row
            .try_get("study_uid")
            .map_err(IndexError::db("read duplicate"))?;
        let old_series: String = row
            .try_get("series_uid")
            .map_err(IndexError::db("read duplicate"))?;
        match policy {
            DuplicatePolicy::Reject => Ok(StoreOutcome::DuplicateRejected),
            DuplicatePolicy::KeepFirst => Ok(StoreOutcome::DuplicateKept),
            DuplicatePolicy::Overwrite => {
                let assignments = INSTANCE_COLUMNS
                    .split(", ")
                    .enumerate()
                    .skip(1)
                    .filter(|(_, column)| *column != "created_at")
                    .map(|(n, column)| format!("{column} = ${}", n + 1))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("UPDATE instances SET {assignments} WHERE sop_uid = $1");
                bind_instance(sqlx::query(&sql), item, values, now)
                    .execute(&mut *conn)
                    .await
                    .map_err(IndexError::db("overwrite instance"))?;
                if old_study != ex.study_uid.as_str() {
                    // Lock order: the new study is already locked; the old one is only recounted.
                    touched_studies.insert(old_study);
                }
                touched_series.insert(old_series);
                Ok(StoreOutcome::Replaced {
                    old_blob: BlobKey::from_stored(old_blob),
                })
            }
        }
    }

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

async fn update_study_attributes(
    conn: &mut AnyConnection,
    study: &str,
    item: &NewInstance,
    now: i64,
) -> Result<(), IndexError> {
    let s = &item.extracted.study;
    sqlx::query(
        "UPDATE studies SET patient_name = $2, patient_id = $3, issuer_of_patient_id = $4, \
         patient_birth_date = $5, patient_sex = $6, study_date = $7, study_time = $8, \
         timezone_offset = $9, accession_number = $10, study_id = $11, study_description = $12, \
         referring_physician_name = $13, specific_character_set = $14, updated_at = $15 \
         WHERE study_uid = $1",
    )
    .bind(study)
    .bind(s.patient_name.as_deref())
    .bind(s.patient_id.as_deref())
    .bind(s.issuer_of_patient_id.as_deref())
    .bind(s.patient_birth_date.as_deref())
    .bind(s.patient_sex.as_deref())
    .bind(s.study_date.as_deref())
    .bind(s.study_time.as_deref())
    .bind(s.timezone_offset.as_deref())
    .bind(s.accession_number.as_deref())
    .bind(s.study_id.as_deref())
    .bind(s.study_description.as_deref())
    .bind(s.referring_physician_name.as_deref())
    .bind(item.extracted.specific_character_set.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("update study"))?;
    Ok(())
}

async fn update_series_attributes(
    conn: &mut AnyConnection,
    series: &str,
    item: &NewInstance,
    now: i64,
) -> Result<(), IndexError> {
    let s = &item.extracted.series;
    sqlx::query(
        "UPDATE series SET modality = $2, series_number = $3, series_description = $4, \
         series_date = $5, series_time = $6, pps_start_date = $7, pps_start_time = $8, \
         body_part_examined = $9, laterality = $10, updated_at = $11 WHERE series_uid = $1",
    )
    .bind(series)
    .bind(s.modality.as_deref())
    .bind(s.series_number)
    .bind(s.series_description.as_deref())
    .bind(s.series_date.as_deref())
    .bind(s.series_time.as_deref())
    .bind(s.performed_procedure_step_start_date.as_deref())
    .bind(s.performed_procedure_step_start_time.as_deref())
    .bind(s.body_part_examined.as_deref())
    .bind(s.laterality.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("update series"))?;
    Ok(())
}

async fn recount_series(conn: &mut AnyConnection, series: &str) -> Result<(), IndexError> {
    sqlx::query(
        "UPDATE series SET num_instances = \
         (SELECT COUNT(*) FROM instances WHERE instances.series_uid = $1) WHERE series_uid = $1",
    )
    .bind(series)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("count series"))?;
    sqlx::query("DELETE FROM series WHERE series_uid = $1 AND num_instances = 0")
        .bind(series)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("drop empty series"))?;
    Ok(())
}

async fn recount_study(conn: &mut AnyConnection, study: &str, now: i64) -> Result<(), IndexError> {
    let modalities: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT modality FROM series WHERE study_uid = $1 AND modality IS NOT NULL \
         ORDER BY modality",
    )
    .bind(study)
    .fetch_all(&mut *conn)
    .await
    .map_err(IndexError::db("list modalities"))?;
    let classes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT sop_class_uid FROM instances WHERE study_uid = $1 ORDER BY sop_class_uid",
    )
    .bind(study)
    .fetch_all(&mut *conn)
    .await
    .map_err(IndexError::db("list SOP classes"))?;
    let joined = |v: Vec<String>| (!v.is_empty()).then(|| v.join("\\"));
    sqlx::query(
        "UPDATE studies SET \
         num_series = (SELECT COUNT(*) FROM series WHERE series.study_uid = $1), \
         num_instances = (SELECT COUNT(*) FROM instances WHERE instances.study_uid = $1), \
         modalities_in_study = $2, sop_classes_in_study = $3, updated_at = $4 \
         WHERE study_uid = $1",
    )
    .bind(study)
    .bind(joined(modalities))
    .bind(joined(classes))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("count study"))?;
    sqlx::query("DELETE FROM studies WHERE study_uid = $1 AND num_instances = 0")
        .bind(study)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("drop empty study"))?;
    Ok(())
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

fn instance_row(row: &AnyRow) -> Result<InstanceRow, IndexError> {
    let get_err = IndexError::db("read instance");
    let frames: Option<String> = row
        .try_get("frames")
        .map_err(IndexError::db("read instance"))?;
    let metadata: String = row
        .try_get("metadata")
        .map_err(IndexError::db("read instance"))?;
    let blob_size: i64 = row
        .try_get("blob_size")
        .map_err(IndexError::db("read instance"))?;
    let blob_key: String = row
        .try_get("blob_key")
        .map_err(IndexError::db("read instance"))?;
    let read = || -> Result<InstanceRow, sqlx::Error> {
        Ok(InstanceRow {
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
            blob_key: BlobKey::from_stored(blob_key.clone()),
            blob_size: blob_size as u64,
            frames: None,
            metadata: serde_json::Value::Null,
        })
    };
    let mut out = read().map_err(get_err)?;
    out.frames = match frames {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|err| IndexError::Corrupt(format!("frames: {err}")))?,
        ),
        None => None,
    };
    out.metadata = serde_json::from_str(&metadata)
        .map_err(|err| IndexError::Corrupt(format!("metadata: {err}")))?;
    Ok(out)
}

#[async_trait]
impl Index for SqlIndex {
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
        let _writer = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let mut tx = self.pool.begin().await.map_err(IndexError::db("begin"))?;
        let outcomes = self.store_in(&mut tx, &batch, policy).await?;
        tx.commit().await.map_err(IndexError::db("commit"))?;
        Ok(outcomes)
    }

    async fn existing_instances(
        &self,
        sops: &[SopInstanceUid],
    ) -> Result<HashSet<String>, IndexError> {
        let values: Vec<&str> = sops.iter().map(SopInstanceUid::as_str).collect();
        self.fetch_in(
            "SELECT sop_uid FROM instances WHERE sop_uid",
            "sop_uid",
            &values,
        )
        .await
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
        let row = sqlx::query("SELECT * FROM instances WHERE sop_uid = $1")
            .bind(uid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(IndexError::db("read instance"))?;
        row.as_ref().map(instance_row).transpose()
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
}
