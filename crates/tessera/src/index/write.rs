//! Recording a STOW batch: one transaction, a fixed number of statements per request
//! whatever the batch size, and counters kept by increments (never by scanning a study).
//!
//! Order: study rows (sorted: the lock order across nodes; on PostgreSQL the row lock
//! serialises writers of one study), series rows, instances in multi-row INSERTs, then one
//! UPDATE per touched series and study carrying attributes and count increments.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use super::changes::{self, ChangeAction, NewChange};
use super::model::{NewInstance, StoreOutcome};
use super::sql::Dialect;
use crate::index::DuplicatePolicy;
use crate::index::IndexError;
use crate::query::attributes::{Level, ATTRIBUTES};
use crate::query::extra::ExtraAttribute;
use crate::query::fragments;
use crate::query::values::RowValue;
use crate::storage::BlobKey;
use tessera_dicom::datetime::{self, Bound};
use tessera_dicom::person_name;

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Instance rows per INSERT statement (18 parameters each; well under every bind limit).
const INSERT_CHUNK: usize = 100;

const INSTANCE_COLUMNS: &str = "sop_uid, series_uid, study_uid, sop_class_uid, instance_number, \
     num_rows, num_columns, bits_allocated, samples_per_pixel, number_of_frames, \
     photometric_interpretation, transfer_syntax_uid, blob_key, blob_size, frames, metadata, \
     qido_json, created_at, updated_at";
const INSTANCE_PARAMS: usize = 19;

pub(super) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

/// `$from, $from+1, ...` for `count` parameters.
pub(super) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Values per `IN (...)` list.
const IN_LIST: usize = 500;

/// Run `{prefix} IN ($1, ...)` over `values`, as many statements as the list needs.
pub(super) async fn execute_in(
    conn: &mut AnyConnection,
    prefix: &str,
    values: &[&str],
    what: &'static str,
) -> Result<(), IndexError> {
    for chunk in values.chunks(IN_LIST) {
        let sql = format!("{prefix} IN ({})", placeholders(1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for value in chunk {
            query = query.bind(*value);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db(what))?;
    }
    Ok(())
}

/// The serialised parts of an instance row: frame ranges and default QIDO members.
struct InstanceValues {
    frames: Option<String>,
    qido: String,
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
}

/// A person name in its matching forms.
struct NameForms {
    groups: [Option<String>; 3],
    words: Vec<(String, String)>,
}

impl NameForms {
    fn of(value: Option<&str>) -> Self {
        match value {
            Some(v) => NameForms {
                groups: person_name::literal_groups(v),
                words: person_name::words(v),
            },
            None => NameForms {
                groups: [None, None, None],
                words: Vec::new(),
            },
        }
    }
}

/// What the batch changed for one series or study.
#[derive(Default)]
struct Delta {
    /// Instances added (stored, or moved here by an overwrite).
    added: i64,
    /// The stored instance whose attributes the row now carries.
    source: Option<usize>,
}

/// An instance that an overwrite moved out of another series or study.
struct Moved {
    study: String,
    series: String,
}

/// A study row as the batch found it (after inserting it if missing), locked on PostgreSQL:
/// what the study's new attributes, counts and QIDO members are computed from.
struct StoredStudy {
    num_instances: i64,
    num_series: i64,
    modalities: Option<String>,
    sop_classes: Option<String>,
    patient_name: Option<String>,
    referring_physician_name: Option<String>,
}

impl StoredStudy {
    /// Rows without instances do not outlive the transaction that made them: an empty row
    /// is one this batch inserted.
    fn created(&self) -> bool {
        self.num_instances == 0
    }
}

/// A series row as the batch found it (after inserting it if missing).
struct StoredSeries {
    study_uid: String,
    num_instances: i64,
    modality: Option<String>,
}

impl StoredSeries {
    /// Like [`StoredStudy::created`].
    fn created(&self) -> bool {
        self.num_instances == 0
    }
}

/// What the batch changes in one study row.
struct StudyChange<'d> {
    delta: &'d Delta,
    /// Series the batch created in the study.
    new_series: i64,
    /// ModalitiesInStudy when the batch provably leaves it as stored; `None`: read it.
    modalities: Option<Option<String>>,
}

/// The stored ModalitiesInStudy, if the series the batch updates (`updated`: as found, and
/// what it did to each) cannot have changed it: no series lost a modality (each kept its
/// own, or had none) and every modality they now have is already listed.
fn unchanged_modalities<'a>(
    study: &StoredStudy,
    mut updated: impl Iterator<Item = (&'a StoredSeries, &'a Delta)>,
    batch: &[NewInstance],
) -> Option<Option<String>> {
    let listed = split_multi(study.modalities.as_deref());
    let same = updated.all(|(stored, delta)| {
        let Some(source) = delta.source else {
            return true;
        };
        let new = batch[source].extracted.series.modality.as_deref();
        let old = stored.modality.as_deref();
        old == new || (old.is_none() && new.is_none_or(|m| listed.contains(m)))
    });
    same.then(|| study.modalities.clone())
}

/// The values of a multi-valued column stored joined by backslashes.
fn split_multi(value: Option<&str>) -> BTreeSet<String> {
    value
        .iter()
        .flat_map(|v| v.split('\\'))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Values joined by backslashes as a multi-valued column stores them; none is NULL.
fn joined(values: Vec<String>) -> Option<String> {
    (!values.is_empty()).then(|| values.join("\\"))
}

/// ModalitiesInStudy from the study's series rows.
async fn list_modalities(
    conn: &mut AnyConnection,
    study: &str,
) -> Result<Option<String>, IndexError> {
    let modalities: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT modality FROM series WHERE study_uid = $1 AND modality IS NOT NULL \
         ORDER BY modality",
    )
    .bind(study)
    .fetch_all(&mut *conn)
    .await
    .map_err(IndexError::db("list modalities"))?;
    Ok(joined(modalities))
}

/// The stored default QIDO members of a study or series row from its columns' values
/// (every column of a default attribute of `level` must be given).
fn row_fragment(level: Level, columns: &[(&str, RowValue)]) -> Result<String, IndexError> {
    let mut values = BTreeMap::new();
    for attribute in ATTRIBUTES.iter().filter(|a| a.level == level) {
        let value = columns
            .iter()
            .find(|(column, _)| *column == attribute.column)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| {
                IndexError::Corrupt(format!("no value for column {}", attribute.column))
            })?;
        values.insert(attribute.keyword, value);
    }
    Ok(fragments::fragment(level, &values))
}

pub(super) struct BatchWriter<'c> {
    conn: &'c mut AnyConnection,
    dialect: Dialect,
    now: i64,
    extras: &'c [ExtraAttribute],
}

impl<'c> BatchWriter<'c> {
    pub(super) fn new(
        conn: &'c mut AnyConnection,
        dialect: Dialect,
        extras: &'c [ExtraAttribute],
    ) -> Self {
        BatchWriter {
            conn,
            dialect,
            now: now_micros(),
            extras,
        }
    }

    pub(super) async fn write(
        &mut self,
        batch: &[NewInstance],
        policy: DuplicatePolicy,
    ) -> Result<Vec<StoreOutcome>, IndexError> {
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];

        // 1. Study rows, in UID order.
        let studies: BTreeSet<&str> = batch
            .iter()
            .map(|i| i.extracted.study_uid.as_str())
            .collect();
        let mut stored_studies = BTreeMap::new();
        for study in &studies {
            stored_studies.insert(*study, self.ensure_study(study).await?);
        }
        // 2. Series rows; a series recorded under another study refuses its instances.
        let series: BTreeMap<&str, &str> = batch
            .iter()
            .map(|i| {
                (
                    i.extracted.series_uid.as_str(),
                    i.extracted.study_uid.as_str(),
                )
            })
            .collect();
        let mut stored_series = BTreeMap::new();
        for (series_uid, study_uid) in &series {
            stored_series.insert(
                *series_uid,
                self.ensure_series(series_uid, study_uid).await?,
            );
        }
        let mut candidates = Vec::new();
        for (idx, item) in batch.iter().enumerate() {
            let ex = &item.extracted;
            match stored_series.get(ex.series_uid.as_str()) {
                Some(stored) if stored.study_uid != ex.study_uid.as_str() => {
                    outcomes[idx] = Some(StoreOutcome::SeriesInOtherStudy {
                        existing_study: stored.study_uid.clone(),
                    });
                }
                _ => candidates.push(idx),
            }
        }

        // 3. Instances; conflicts (already stored) are settled one by one by the policy.
        let values: Vec<InstanceValues> = batch
            .iter()
            .map(InstanceValues::of)
            .collect::<Result<_, _>>()?;
        let mut inserted = self.insert_instances(batch, &values, &candidates).await?;
        let mut series_delta: BTreeMap<String, Delta> = BTreeMap::new();
        let mut study_delta: BTreeMap<String, Delta> = BTreeMap::new();
        let mut moved = Vec::new();
        for &idx in &candidates {
            let ex = &batch[idx].extracted;
            // The first copy of a SOP Instance UID in the batch is the inserted one.
            let (outcome, added) = if inserted.remove(ex.sop_uid.as_str()) {
                (StoreOutcome::Stored, 1)
            } else {
                let (outcome, from) = self
                    .resolve_duplicate(&batch[idx], &values[idx], policy)
                    .await?;
                let added = match from {
                    Some(from) if from.series != ex.series_uid.as_str() => {
                        moved.push(from);
                        1
                    }
                    _ => 0,
                };
                (outcome, added)
            };
            if outcome.keeps_new_blob() && !self.extras.is_empty() {
                let owners = [
                    ex.study_uid.to_string(),
                    ex.series_uid.to_string(),
                    ex.sop_uid.to_string(),
                ];
                insert_extra_values(self.conn, self.extras, &owners, &ex.metadata).await?;
            }
            if outcome.keeps_new_blob() {
                for (map, key) in [
                    (&mut series_delta, ex.series_uid.as_str()),
                    (&mut study_delta, ex.study_uid.as_str()),
                ] {
                    let delta = map.entry(key.to_string()).or_default();
                    delta.added += added;
                    delta.source = Some(idx);
                }
            }
            outcomes[idx] = Some(outcome);
        }

        // 4. Series: attributes, counts and QIDO members, or away with a new series that
        // got nothing.
        let mut series_added_to: BTreeMap<String, i64> = BTreeMap::new();
        for (series_uid, study_uid) in &series {
            let stored = &stored_series[series_uid];
            match series_delta.get(*series_uid) {
                Some(delta) => {
                    self.update_series(series_uid, stored, delta, batch).await?;
                    if stored.created() {
                        *series_added_to.entry(study_uid.to_string()).or_default() += 1;
                    }
                }
                None if stored.created() => {
                    self.delete_if_empty("series", "series_uid", series_uid)
                        .await?;
                }
                None => {}
            }
        }
        // 5. Studies likewise.
        for study in &studies {
            let stored = &stored_studies[study];
            match study_delta.get(*study) {
                Some(delta) => {
                    let modalities = unchanged_modalities(
                        stored,
                        series_delta
                            .iter()
                            .map(|(uid, delta)| (&stored_series[uid.as_str()], delta))
                            .filter(|(stored, _)| stored.study_uid == *study),
                        batch,
                    );
                    let change = StudyChange {
                        delta,
                        new_series: series_added_to.get(*study).copied().unwrap_or(0),
                        modalities,
                    };
                    self.update_study(study, stored, &change, batch, &candidates)
                        .await?;
                }
                None if stored.created() => {
                    self.delete_if_empty("studies", "study_uid", study).await?;
                }
                None => {}
            }
        }
        // 6. Overwrites that moved an instance elsewhere: recount where it came from.
        for from in &moved {
            recount_series(self.conn, &from.series).await?;
            recount_study(self.conn, &from.study, self.now).await?;
        }
        // 7. The stored QIDO members of the series and studies the recounts changed (those
        // of the others were written with their rows).
        let moved_series: BTreeSet<&str> = moved.iter().map(|m| m.series.as_str()).collect();
        for series in moved_series {
            refresh_fragment(self.conn, Level::Series, series).await?;
        }
        let moved_studies: BTreeSet<&str> = moved.iter().map(|m| m.study.as_str()).collect();
        for study in moved_studies {
            refresh_fragment(self.conn, Level::Study, study).await?;
        }
        let outcomes: Vec<StoreOutcome> = outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| IndexError::Corrupt("instance without outcome".into())))
            .collect::<Result<_, _>>()?;
        // 8. The change feed, last: on PostgreSQL its lock is held until commit.
        let changes: Vec<NewChange> = batch
            .iter()
            .zip(&outcomes)
            .filter_map(|(item, outcome)| {
                let action = match outcome {
                    StoreOutcome::Stored => ChangeAction::Create,
                    StoreOutcome::Replaced { .. } => ChangeAction::Update,
                    _ => return None,
                };
                let ex = &item.extracted;
                Some(NewChange {
                    action,
                    study: ex.study_uid.to_string(),
                    series: ex.series_uid.to_string(),
                    sop: ex.sop_uid.to_string(),
                })
            })
            .collect();
        changes::append(self.conn, self.dialect, &changes).await?;
        Ok(outcomes)
    }

    /// Insert the study row if missing and read what the batch needs of it. The no-op
    /// update on conflict makes one statement both insert and read the row, and on
    /// PostgreSQL lock it until commit (the lock that serialises writers of one study).
    async fn ensure_study(&mut self, study: &str) -> Result<StoredStudy, IndexError> {
        let row = sqlx::query(
            "INSERT INTO studies (study_uid, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (study_uid) DO UPDATE SET updated_at = studies.updated_at \
             RETURNING num_instances, num_series, modalities_in_study, sop_classes_in_study, \
             patient_name, referring_physician_name",
        )
        .bind(study)
        .bind(self.now)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(IndexError::db("insert study"))?;
        let read = |err| IndexError::db("read study")(err);
        Ok(StoredStudy {
            num_instances: row.try_get(0).map_err(read)?,
            num_series: row.try_get(1).map_err(read)?,
            modalities: row.try_get(2).map_err(read)?,
            sop_classes: row.try_get(3).map_err(read)?,
            patient_name: row.try_get(4).map_err(read)?,
            referring_physician_name: row.try_get(5).map_err(read)?,
        })
    }

    /// Insert the series row if missing and read its study, count and modality (one
    /// statement, as for the study).
    async fn ensure_series(
        &mut self,
        series: &str,
        study: &str,
    ) -> Result<StoredSeries, IndexError> {
        let row = sqlx::query(
            "INSERT INTO series (series_uid, study_uid, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (series_uid) DO UPDATE SET updated_at = series.updated_at \
             RETURNING study_uid, num_instances, modality",
        )
        .bind(series)
        .bind(study)
        .bind(self.now)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(IndexError::db("insert series"))?;
        let read = |err| IndexError::db("read series")(err);
        Ok(StoredSeries {
            study_uid: row.try_get(0).map_err(read)?,
            num_instances: row.try_get(1).map_err(read)?,
            modality: row.try_get(2).map_err(read)?,
        })
    }

    async fn insert_instances(
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
    async fn resolve_duplicate(
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

    async fn update_series(
        &mut self,
        series: &str,
        stored: &StoredSeries,
        delta: &Delta,
        batch: &[NewInstance],
    ) -> Result<(), IndexError> {
        let Some(source) = delta.source else {
            return Ok(());
        };
        let s = &batch[source].extracted.series;
        let time_norm = s
            .performed_procedure_step_start_time
            .as_deref()
            .and_then(|t| datetime::time(t, Bound::Lower));
        let text = |v: Option<&str>| RowValue::Text(v.map(str::to_string));
        let qido = row_fragment(
            Level::Series,
            &[
                ("series_uid", text(Some(series))),
                ("modality", text(s.modality.as_deref())),
                ("series_number", RowValue::Int(s.series_number)),
                ("series_description", text(s.series_description.as_deref())),
                ("series_date", text(s.series_date.as_deref())),
                ("series_time", text(s.series_time.as_deref())),
                (
                    "pps_start_date",
                    text(s.performed_procedure_step_start_date.as_deref()),
                ),
                (
                    "pps_start_time",
                    text(s.performed_procedure_step_start_time.as_deref()),
                ),
                ("body_part_examined", text(s.body_part_examined.as_deref())),
                ("laterality", text(s.laterality.as_deref())),
                (
                    "num_instances",
                    RowValue::Int(Some(stored.num_instances + delta.added)),
                ),
            ],
        )?;
        sqlx::query(
            "UPDATE series SET modality = $2, series_number = $3, series_description = $4, \
             series_date = $5, series_time = $6, pps_start_date = $7, pps_start_time = $8, \
             body_part_examined = $9, laterality = $10, updated_at = $11, \
             num_instances = num_instances + $12, pps_start_time_norm = $13, qido_json = $14 \
             WHERE series_uid = $1",
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
        .bind(self.now)
        .bind(delta.added)
        .bind(time_norm)
        .bind(qido)
        .execute(&mut *self.conn)
        .await
        .map_err(IndexError::db("update series"))?;
        Ok(())
    }

    async fn update_study(
        &mut self,
        study: &str,
        stored: &StoredStudy,
        change: &StudyChange<'_>,
        batch: &[NewInstance],
        candidates: &[usize],
    ) -> Result<(), IndexError> {
        let Some(source) = change.delta.source else {
            return Ok(());
        };
        // ModalitiesInStudy from the (few) series rows unless the batch provably left it
        // as stored; SOPClassesInStudy as a growing set.
        let modalities = match &change.modalities {
            Some(unchanged) => unchanged.clone(),
            None => list_modalities(self.conn, study).await?,
        };
        let mut classes: BTreeSet<String> = split_multi(stored.sop_classes.as_deref());
        for &idx in candidates {
            let ex = &batch[idx].extracted;
            if ex.study_uid.as_str() == study {
                classes.insert(ex.sop_class.to_string());
            }
        }
        let classes = joined(classes.into_iter().collect());
        let item = &batch[source];
        let s = &item.extracted.study;
        let patient = NameForms::of(s.patient_name.as_deref());
        let referring = NameForms::of(s.referring_physician_name.as_deref());
        let time_norm = s
            .study_time
            .as_deref()
            .and_then(|t| datetime::time(t, Bound::Lower));
        let date_time = datetime::combine(s.study_date.as_deref(), s.study_time.as_deref());
        let charset = item.extracted.specific_character_set.as_deref();
        let text = |v: Option<&str>| RowValue::Text(v.map(str::to_string));
        let qido = row_fragment(
            Level::Study,
            &[
                ("study_uid", text(Some(study))),
                ("patient_name", text(s.patient_name.as_deref())),
                ("patient_id", text(s.patient_id.as_deref())),
                (
                    "issuer_of_patient_id",
                    text(s.issuer_of_patient_id.as_deref()),
                ),
                ("patient_birth_date", text(s.patient_birth_date.as_deref())),
                ("patient_sex", text(s.patient_sex.as_deref())),
                ("study_date", text(s.study_date.as_deref())),
                ("study_time", text(s.study_time.as_deref())),
                ("timezone_offset", text(s.timezone_offset.as_deref())),
                ("accession_number", text(s.accession_number.as_deref())),
                ("study_id", text(s.study_id.as_deref())),
                ("study_description", text(s.study_description.as_deref())),
                (
                    "referring_physician_name",
                    text(s.referring_physician_name.as_deref()),
                ),
                ("specific_character_set", text(charset)),
                (
                    "num_instances",
                    RowValue::Int(Some(stored.num_instances + change.delta.added)),
                ),
                (
                    "num_series",
                    RowValue::Int(Some(stored.num_series + change.new_series)),
                ),
                ("modalities_in_study", text(modalities.as_deref())),
                ("sop_classes_in_study", text(classes.as_deref())),
            ],
        )?;
        sqlx::query(
            "UPDATE studies SET patient_name = $2, patient_id = $3, issuer_of_patient_id = $4, \
             patient_birth_date = $5, patient_sex = $6, study_date = $7, study_time = $8, \
             timezone_offset = $9, accession_number = $10, study_id = $11, \
             study_description = $12, referring_physician_name = $13, \
             specific_character_set = $14, updated_at = $15, \
             num_instances = num_instances + $16, num_series = num_series + $17, \
             modalities_in_study = $18, sop_classes_in_study = $19, \
             pn_patient_a = $20, pn_patient_i = $21, pn_patient_p = $22, \
             pn_referring_a = $23, pn_referring_i = $24, pn_referring_p = $25, \
             study_time_norm = $26, study_datetime = $27, qido_json = $28 \
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
        .bind(charset)
        .bind(self.now)
        .bind(change.delta.added)
        .bind(change.new_series)
        .bind(modalities)
        .bind(classes)
        .bind(patient.groups[0].clone())
        .bind(patient.groups[1].clone())
        .bind(patient.groups[2].clone())
        .bind(referring.groups[0].clone())
        .bind(referring.groups[1].clone())
        .bind(referring.groups[2].clone())
        .bind(time_norm)
        .bind(date_time)
        .bind(qido)
        .execute(&mut *self.conn)
        .await
        .map_err(IndexError::db("update study"))?;
        // The words follow from the two names alone: the same names, the same words.
        if stored.patient_name == s.patient_name
            && stored.referring_physician_name == s.referring_physician_name
        {
            return Ok(());
        }
        replace_name_words(
            self.conn,
            study,
            &[("patient", &patient), ("referring", &referring)],
        )
        .await
    }

    async fn delete_if_empty(
        &mut self,
        table: &str,
        key: &str,
        value: &str,
    ) -> Result<(), IndexError> {
        let sql = format!("DELETE FROM {table} WHERE {key} = $1 AND num_instances = 0");
        sqlx::query(&sql)
            .bind(value)
            .execute(&mut *self.conn)
            .await
            .map_err(IndexError::db("drop empty row"))?;
        Ok(())
    }
}

/// Recount one series from its instances (rare: after an overwrite moved an instance away).
pub(super) async fn recount_series(
    conn: &mut AnyConnection,
    series: &str,
) -> Result<(), IndexError> {
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

/// Recount one study from its series and instances (rare path, like [`recount_series`]).
pub(super) async fn recount_study(
    conn: &mut AnyConnection,
    study: &str,
    now: i64,
) -> Result<(), IndexError> {
    let modalities = list_modalities(conn, study).await?;
    let classes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT sop_class_uid FROM instances WHERE study_uid = $1 ORDER BY sop_class_uid",
    )
    .bind(study)
    .fetch_all(&mut *conn)
    .await
    .map_err(IndexError::db("list SOP classes"))?;
    sqlx::query(
        "UPDATE studies SET \
         num_series = (SELECT COUNT(*) FROM series WHERE series.study_uid = $1), \
         num_instances = (SELECT COUNT(*) FROM instances WHERE instances.study_uid = $1), \
         modalities_in_study = $2, sop_classes_in_study = $3, updated_at = $4 \
         WHERE study_uid = $1",
    )
    .bind(study)
    .bind(modalities)
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
    drop_orphan_name_words(conn, study).await
}

/// Name words of a study whose row is gone.
async fn drop_orphan_name_words(conn: &mut AnyConnection, study: &str) -> Result<(), IndexError> {
    sqlx::query(
        "DELETE FROM name_words WHERE study_uid = $1 \
         AND NOT EXISTS (SELECT 1 FROM studies WHERE study_uid = $1)",
    )
    .bind(study)
    .execute(&mut *conn)
    .await
    .map_err(IndexError::db("drop name words"))?;
    Ok(())
}

/// Record the values of extra query attributes found in one instance's metadata;
/// `owners` are its study, series and SOP Instance UIDs.
pub(super) async fn insert_extra_values(
    conn: &mut AnyConnection,
    extras: &[ExtraAttribute],
    owners: &[String; 3],
    metadata: &str,
) -> Result<(), IndexError> {
    let json: serde_json::Value = serde_json::from_str(metadata)
        .map_err(|err| IndexError::Corrupt(format!("metadata: {err}")))?;
    for extra in extras {
        let owner = match extra.level {
            Level::Study => &owners[0],
            Level::Series => &owners[1],
            Level::Instance => &owners[2],
        };
        for (value, norm) in extra.values(&json) {
            sqlx::query(
                "INSERT INTO extra_query_values (tag, owner_uid, value, value_norm) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tag, owner_uid, value) DO NOTHING",
            )
            .bind(extra.tag_hex.as_str())
            .bind(owner.as_str())
            .bind(value)
            .bind(norm)
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("index extra attribute"))?;
        }
    }
    Ok(())
}

/// Rebuild the stored default QIDO members of one study or series from its row (a row that
/// no longer exists is left alone).
pub(super) async fn refresh_fragment(
    conn: &mut AnyConnection,
    level: Level,
    uid: &str,
) -> Result<(), IndexError> {
    let (table, key) = match level {
        Level::Study => ("studies", "study_uid"),
        Level::Series => ("series", "series_uid"),
        Level::Instance => return Ok(()),
    };
    let attributes: Vec<_> = ATTRIBUTES.iter().filter(|a| a.level == level).collect();
    let columns: Vec<&str> = attributes.iter().map(|a| a.column).collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {key} = $1",
        columns.join(", ")
    );
    let Some(row) = sqlx::query(&sql)
        .bind(uid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(IndexError::db("read row for QIDO members"))?
    else {
        return Ok(());
    };
    let mut values = Vec::new();
    for attribute in attributes {
        let value = if attribute.is_integer() {
            RowValue::Int(
                row.try_get(attribute.column)
                    .map_err(IndexError::db("read row"))?,
            )
        } else {
            RowValue::Text(
                row.try_get(attribute.column)
                    .map_err(IndexError::db("read row"))?,
            )
        };
        values.push((attribute.column, value));
    }
    let qido = row_fragment(level, &values)?;
    let sql = format!("UPDATE {table} SET qido_json = $2 WHERE {key} = $1");
    sqlx::query(&sql)
        .bind(uid)
        .bind(qido)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("store QIDO members"))?;
    Ok(())
}

/// Replace the fuzzy-matching words of a study's person names.
async fn replace_name_words(
    conn: &mut AnyConnection,
    study: &str,
    names: &[(&str, &NameForms)],
) -> Result<(), IndexError> {
    sqlx::query("DELETE FROM name_words WHERE study_uid = $1")
        .bind(study)
        .execute(&mut *conn)
        .await
        .map_err(IndexError::db("replace name words"))?;
    let rows: Vec<(&str, &str, &str)> = names
        .iter()
        .flat_map(|(attribute, forms)| {
            forms
                .words
                .iter()
                .map(move |(position, word)| (*attribute, position.as_str(), word.as_str()))
        })
        .collect();
    for chunk in rows.chunks(200) {
        let values = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * 4 + 1, 4)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO name_words (study_uid, attribute, position, word) VALUES {values}"
        );
        let mut query = sqlx::query(&sql);
        for (attribute, position, word) in chunk {
            query = query
                .bind(study)
                .bind(*attribute)
                .bind(*position)
                .bind(*word);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(IndexError::db("replace name words"))?;
    }
    Ok(())
}
