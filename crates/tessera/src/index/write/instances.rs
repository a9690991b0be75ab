//! Instance rows: many per INSERT statement, and a second copy of a SOP Instance UID
//! settled by the duplicate policy.

use std::collections::{BTreeMap, HashSet};

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::{BatchWriter, Moved};
use crate::index::dialect::Dialect;
use crate::index::model::{NewInstance, StoreOutcome};
use crate::index::statements::placeholders;
use crate::index::{DuplicatePolicy, IndexError};
use crate::query::attributes::Level;
use crate::query::fragments;
use crate::query::values::RowValue;
use crate::storage::BlobKey;

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Instance rows per INSERT statement (20 parameters each; well under every bind limit).
const INSERT_CHUNK: usize = 100;

const INSTANCE_COLUMNS: &str = "sop_uid, series_uid, study_uid, sop_class_uid, instance_number, \
     num_rows, num_columns, bits_allocated, samples_per_pixel, number_of_frames, \
     photometric_interpretation, transfer_syntax_uid, blob_key, blob_size, frames, metadata, \
     qido_json, created_at, updated_at, blob_sha256";
const INSTANCE_PARAMS: usize = 20;

/// The serialised parts of an instance row: frame ranges and default QIDO members.
pub(super) struct InstanceValues {
    frames: Option<String>,
    qido: String,
}

impl InstanceValues {
    pub(super) fn of(item: &NewInstance) -> Result<Self, IndexError> {
        let frames = match &item.extracted.frames {
            Some(frames) => Some(
                serde_json::to_string(frames)
                    .map_err(|err| IndexError::Corrupt(format!("frames: {err}")))?,
            ),
            None => None,
        };
        let ex = &item.extracted;
        let i = &ex.instance;
        let text = |v: &str| RowValue::Text(Some(v.to_string()));
        let values: BTreeMap<&'static str, RowValue> = [
            ("SOPClassUID", text(ex.sop_class.as_str())),
            ("SOPInstanceUID", text(ex.sop_uid.as_str())),
            (
                "AvailableTransferSyntaxUID",
                text(ex.transfer_syntax.as_str()),
            ),
            ("InstanceNumber", RowValue::Int(i.instance_number)),
            ("Rows", RowValue::Int(i.rows)),
            ("Columns", RowValue::Int(i.columns)),
            ("BitsAllocated", RowValue::Int(i.bits_allocated)),
            ("NumberOfFrames", RowValue::Int(i.number_of_frames)),
        ]
        .into_iter()
        .collect();
        let qido = fragments::fragment(Level::Instance, &values);
        Ok(InstanceValues { frames, qido })
    }
}

/// Bind the instance columns in [`INSTANCE_COLUMNS`] order.
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
        .bind(item.extracted.metadata.as_str())
        .bind(values.qido.as_str())
        .bind(now)
        .bind(now)
        .bind(item.blob_sha256.as_deref())
}

impl BatchWriter<'_> {
    pub(super) async fn insert_instances(
        &mut self,
        batch: &[NewInstance],
        values: &[InstanceValues],
        candidates: &[usize],
    ) -> Result<HashSet<String>, IndexError> {
        let mut inserted = HashSet::new();
        for chunk in candidates.chunks(INSERT_CHUNK) {
            let rows = (0..chunk.len())
                .map(|r| {
                    format!(
                        "({})",
                        placeholders(r * INSTANCE_PARAMS + 1, INSTANCE_PARAMS)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES {rows} \
                 ON CONFLICT (sop_uid) DO NOTHING RETURNING sop_uid"
            );
            let mut query = sqlx::query(&sql);
            for &idx in chunk {
                query = bind_instance(query, &batch[idx], &values[idx], self.now);
            }
            let rows = query
                .fetch_all(&mut *self.conn)
                .await
                .map_err(IndexError::db("insert instances"))?;
            for row in rows {
                inserted.insert(
                    row.try_get("sop_uid")
                        .map_err(IndexError::db("insert instances"))?,
                );
            }
        }
        Ok(inserted)
    }

    /// An instance whose SOP Instance UID is already recorded, decided by the policy.
    /// Returns where an overwritten instance lived.
    pub(super) async fn resolve_duplicate(
        &mut self,
        item: &NewInstance,
        values: &InstanceValues,
        policy: DuplicatePolicy,
    ) -> Result<(StoreOutcome, Option<Moved>), IndexError> {
        let ex = &item.extracted;
        let sql = format!(
            "SELECT blob_key, study_uid, series_uid FROM instances WHERE sop_uid = $1{}",
            match self.dialect {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE",
            }
        );
        let row = sqlx::query(&sql)
            .bind(ex.sop_uid.as_str())
            .fetch_one(&mut *self.conn)
            .await
            .map_err(IndexError::db("read duplicate"))?;
        let read = |name: &str| -> Result<String, IndexError> {
            row.try_get(name).map_err(IndexError::db("read duplicate"))
        };
        let (old_blob, study, series) =
            (read("blob_key")?, read("study_uid")?, read("series_uid")?);
        match policy {
            DuplicatePolicy::Reject => Ok((StoreOutcome::DuplicateRejected, None)),
            DuplicatePolicy::KeepFirst => Ok((StoreOutcome::DuplicateKept, None)),
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
                bind_instance(sqlx::query(&sql), item, values, self.now)
                    .execute(&mut *self.conn)
                    .await
                    .map_err(IndexError::db("overwrite instance"))?;
                Ok((
                    StoreOutcome::Replaced {
                        old_blob: BlobKey::from_stored(old_blob),
                    },
                    Some(Moved { study, series }),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_columns_and_parameters_agree() {
        assert_eq!(INSTANCE_COLUMNS.split(", ").count(), INSTANCE_PARAMS);
        // Every database's bind limit (SQLite 32766, PostgreSQL 65535) covers a full chunk.
        const { assert!(INSERT_CHUNK * INSTANCE_PARAMS < 32_766) };
    }
}
