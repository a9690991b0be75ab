//! What `tessera check` reads from the index and the one repair it makes there: instance rows
//! with their blob's key, size, hash and frame ranges, page by page, and the derived counts
//! of study and series rows compared with the instance rows they count.

use sqlx::Row;

use super::model::{BlobRow, CountMismatch};
use super::sql::SqlIndex;
use super::statements::now_micros;
use super::upkeep::{recount_series, recount_study};
use super::IndexError;
use crate::storage::BlobKey;

impl SqlIndex {
    pub(super) async fn read_blob_rows(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<BlobRow>, IndexError> {
        let rows = sqlx::query(
            "SELECT sop_uid, series_uid, study_uid, blob_key, blob_size, blob_sha256, frames \
             FROM instances WHERE sop_uid > $1 ORDER BY sop_uid LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(IndexError::db("read instance rows"))?;
        rows.iter()
            .map(|row| {
                let read = || -> Result<(BlobRow, Option<String>), sqlx::Error> {
                    let key: String = row.try_get("blob_key")?;
                    let size: i64 = row.try_get("blob_size")?;
                    Ok((
                        BlobRow {
                            sop_uid: row.try_get("sop_uid")?,
                            series_uid: row.try_get("series_uid")?,
                            study_uid: row.try_get("study_uid")?,
                            blob_key: BlobKey::from_stored(key),
                            blob_size: size.max(0) as u64,
                            blob_sha256: row.try_get("blob_sha256")?,
                            frames: None,
                        },
                        row.try_get("frames")?,
                    ))
                };
                let (mut out, frames) = read().map_err(IndexError::db("read instance rows"))?;
                out.frames = match frames {
                    Some(text) => Some(serde_json::from_str(&text).map_err(|err| {
                        IndexError::Corrupt(format!("frames of {}: {err}", out.sop_uid))
                    })?),
                    None => None,
                };
                Ok(out)
            })
            .collect()
    }

    pub(super) async fn find_count_mismatches(&self) -> Result<Vec<CountMismatch>, IndexError> {
        let mut found = Vec::new();
        let studies = sqlx::query(
            "SELECT s.study_uid, s.num_series, s.num_instances, \
             (SELECT COUNT(*) FROM series se WHERE se.study_uid = s.study_uid) AS series_now, \
             (SELECT COUNT(*) FROM instances i WHERE i.study_uid = s.study_uid) AS instances_now \
             FROM studies s ORDER BY s.study_uid",
        )
        .fetch_all(self.pool())
        .await
        .map_err(IndexError::db("compare counts"))?;
        for row in &studies {
            let read = || -> Result<CountMismatch, sqlx::Error> {
                Ok(CountMismatch::Study {
                    study_uid: row.try_get("study_uid")?,
                    recorded_series: row.try_get("num_series")?,
                    actual_series: row.try_get("series_now")?,
                    recorded_instances: row.try_get("num_instances")?,
                    actual_instances: row.try_get("instances_now")?,
                })
            };
            let study = read().map_err(IndexError::db("compare counts"))?;
            if let CountMismatch::Study {
                recorded_series,
                actual_series,
                recorded_instances,
                actual_instances,
                ..
            } = &study
            {
                if recorded_series != actual_series || recorded_instances != actual_instances {
                    found.push(study);
                }
            }
        }
        let series = sqlx::query(
            "SELECT se.study_uid, se.series_uid, se.num_instances, \
             (SELECT COUNT(*) FROM instances i WHERE i.series_uid = se.series_uid) AS instances_now \
             FROM series se ORDER BY se.study_uid, se.series_uid",
        )
        .fetch_all(self.pool())
        .await
        .map_err(IndexError::db("compare counts"))?;
        for row in &series {
            let read = || -> Result<(String, String, i64, i64), sqlx::Error> {
                Ok((
                    row.try_get("study_uid")?,
                    row.try_get("series_uid")?,
                    row.try_get("num_instances")?,
                    row.try_get("instances_now")?,
                ))
            };
            let (study_uid, series_uid, recorded, actual) =
                read().map_err(IndexError::db("compare counts"))?;
            if recorded != actual {
                found.push(CountMismatch::Series {
                    study_uid,
                    series_uid,
                    recorded_instances: recorded,
                    actual_instances: actual,
                });
            }
        }
        for (level, sql) in [
            (
                "series",
                "SELECT DISTINCT i.study_uid, i.series_uid FROM instances i \
                 LEFT JOIN series se ON se.series_uid = i.series_uid WHERE se.series_uid IS NULL",
            ),
            (
                "study",
                "SELECT DISTINCT i.study_uid, i.series_uid FROM instances i \
                 LEFT JOIN studies s ON s.study_uid = i.study_uid WHERE s.study_uid IS NULL",
            ),
        ] {
            let rows = sqlx::query(sql)
                .fetch_all(self.pool())
                .await
                .map_err(IndexError::db("find instances without parents"))?;
            for row in &rows {
                let read = || -> Result<(String, String), sqlx::Error> {
                    Ok((row.try_get("study_uid")?, row.try_get("series_uid")?))
                };
                let (study_uid, series_uid) =
                    read().map_err(IndexError::db("find instances without parents"))?;
                found.push(CountMismatch::MissingParent {
                    study_uid,
                    series_uid,
                    level,
                });
            }
        }
        Ok(found)
    }

    /// Recount every series of a study and then the study, in one write transaction.
    pub(super) async fn recount_whole_study(&self, study: &str) -> Result<(), IndexError> {
        let mut tx = self.begin_write().await.map_err(IndexError::db("begin"))?;
        let series: Vec<String> =
            sqlx::query_scalar("SELECT series_uid FROM series WHERE study_uid = $1")
                .bind(study)
                .fetch_all(&mut *tx)
                .await
                .map_err(IndexError::db("list series"))?;
        for uid in &series {
            recount_series(&mut tx, uid).await?;
        }
        recount_study(&mut tx, study, now_micros()).await?;
        tx.commit().await.map_err(IndexError::db("commit"))?;
        Ok(())
    }
}
